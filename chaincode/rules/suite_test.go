package rules_test

import (
	"testing"

	"github.com/wotchain/wotchain/chaincode/rules/rulestest"
)

// TestRules runs the rule suite on the in-memory reference ledger; the
// embedded ledger (bridge/ledger) and the chaincode (chaincode/contract)
// run the same suite.
func TestRules(t *testing.T) {
	rulestest.Run(t, func(*testing.T) rulestest.Ledger { return rulestest.NewMemLedger() })
}
