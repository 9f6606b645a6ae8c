package ledger

import (
	"context"
	"log/slog"
	"slices"
	"testing"

	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/chaincode/rules/rulestest"
)

// suiteLedger runs the rule suite's transactions as the embedded ledger
// runs its own: through Embedded.run over a tx.
type suiteLedger struct {
	e      *Embedded
	st     *store.Store
	events []rulestest.Event
}

// eventTx keeps a transaction's event with its payload (tx keeps names
// only) until the transaction commits.
type eventTx struct {
	*tx
	events []rulestest.Event
}

func (t *eventTx) SetEvent(name string, payload []byte) error {
	t.events = append(t.events, rulestest.Event{Name: name, Payload: payload})
	return t.tx.SetEvent(name, payload)
}

func (l *suiteLedger) Tx(fn func(rules.State) error) error {
	var et *eventTx
	err := l.e.run(context.Background(), func(t *tx) error {
		et = &eventTx{tx: t}
		return fn(et)
	})
	if err == nil {
		l.events = append(l.events, et.events...)
	}
	return err
}

func (l *suiteLedger) Committed() map[string][]byte {
	out := map[string][]byte{}
	if err := l.st.Ledger().Scan("", "", func(k string, v []byte) (bool, error) {
		out[k] = v
		return true, nil
	}); err != nil {
		panic(err)
	}
	return out
}

func (l *suiteLedger) Events() []rulestest.Event { return slices.Clone(l.events) }

// TestRules runs the rule suite on the embedded ledger.
func TestRules(t *testing.T) {
	rulestest.Run(t, func(t *testing.T) rulestest.Ledger {
		st, err := store.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Close)
		return &suiteLedger{e: NewEmbedded(st.Ledger(), "appliance-"+appID, slog.New(slog.DiscardHandler)), st: st}
	})
}
