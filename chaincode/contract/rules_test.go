package contract

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"

	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/chaincode/rules/rulestest"
)

// stubLedger runs the rule suite's transactions on the fake peer, each on
// a fresh txStub seen through stubState, as the contract's transactions
// see it.
type stubLedger struct {
	w      *world
	events []rulestest.Event
}

func (l *stubLedger) Tx(fn func(rules.State) error) error {
	w := l.w
	w.txs++
	stub := &txStub{world: w, txID: fmt.Sprintf("tx%d", w.txs), writes: map[string][]byte{}}
	if err := fn(stubState{stub}); err != nil {
		return err
	}
	for k, v := range stub.writes {
		w.state[k] = v
		w.history[k] = append(w.history[k], &queryresult.KeyModification{TxId: stub.txID, Value: v})
	}
	for i, name := range stub.events {
		l.events = append(l.events, rulestest.Event{Name: name, Payload: stub.payloads[i]})
	}
	return nil
}

func (l *stubLedger) Committed() map[string][]byte { return maps.Clone(l.w.state) }

func (l *stubLedger) Events() []rulestest.Event { return slices.Clone(l.events) }

// TestRules runs the rule suite on the chaincode's state.
func TestRules(t *testing.T) {
	rulestest.Run(t, func(*testing.T) rulestest.Ledger { return &stubLedger{w: newWorld()} })
}
