// Package rulestest is the rule suite every ledger that runs chaincode/rules
// must pass: the Fabric chaincode (over its stub), the appliance's embedded
// ledger, and the in-memory reference ledger here. Each ledger supplies a
// Ledger, and Run runs the same cases on it.
package rulestest

import (
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/wotchain/wotchain/chaincode/rules"
)

// Ledger is a world state under test, with Fabric's transaction semantics.
type Ledger interface {
	// Tx runs fn as one transaction. fn's State reads committed state only
	// (never the transaction's own writes); its writes and its event are
	// committed if fn returns nil and dropped if it returns an error.
	Tx(fn func(st rules.State) error) error
	// Committed returns the whole committed state.
	Committed() map[string][]byte
	// Events returns the events of the committed transactions, oldest first.
	Events() []Event
}

// Event is one transaction's event.
type Event struct {
	Name    string
	Payload []byte
}

// MemLedger is an in-memory Ledger: the reference the other ledgers are
// held to.
type MemLedger struct {
	kv     map[string][]byte
	events []Event
}

// NewMemLedger returns an empty MemLedger.
func NewMemLedger() *MemLedger { return &MemLedger{kv: map[string][]byte{}} }

// Tx implements Ledger.
func (m *MemLedger) Tx(fn func(rules.State) error) error {
	t := &memTx{m: m, writes: map[string][]byte{}}
	if err := fn(t); err != nil {
		return err
	}
	maps.Copy(m.kv, t.writes)
	m.events = append(m.events, t.events...)
	return nil
}

// Committed implements Ledger.
func (m *MemLedger) Committed() map[string][]byte { return maps.Clone(m.kv) }

// Events implements Ledger.
func (m *MemLedger) Events() []Event { return slices.Clone(m.events) }

// memTx is one transaction of a MemLedger.
type memTx struct {
	m      *MemLedger
	writes map[string][]byte
	events []Event
}

func (t *memTx) GetState(key string) ([]byte, error) { return slices.Clone(t.m.kv[key]), nil }

func (t *memTx) PutState(key string, value []byte) error {
	t.writes[key] = slices.Clone(value)
	return nil
}

// SetEvent allows one event per transaction, as Fabric does.
func (t *memTx) SetEvent(name string, payload []byte) error {
	if len(t.events) > 0 {
		return errSecondEvent
	}
	t.events = append(t.events, Event{Name: name, Payload: slices.Clone(payload)})
	return nil
}

func (t *memTx) ScanComposite(objectType string, attrs []string, limit int, bookmark string) ([]rules.KV, string, error) {
	prefix, err := rules.CompositeKey(objectType, attrs...)
	if err != nil {
		return nil, "", err
	}
	var out []rules.KV
	for _, k := range slices.Sorted(maps.Keys(t.m.kv)) {
		if !strings.HasPrefix(k, prefix) || (bookmark != "" && k < bookmark) {
			continue
		}
		if len(out) == limit {
			return out, k, nil
		}
		out = append(out, rules.KV{Key: k, Value: slices.Clone(t.m.kv[k])})
	}
	return out, "", nil
}

var errSecondEvent = errors.New("fabric allows one event per transaction")
