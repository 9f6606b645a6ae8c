package rules

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/wotchain/wotchain/chaincode/format"
)

const (
	// EventBlocksAnchored is emitted by RecordCredentials, once per batch
	// (Fabric keeps one event per transaction), with a JSON array of the
	// credentials that transaction recorded, in height order. Credentials of
	// the batch that were already on the ledger are not in it: their own
	// transaction announced them. A batch that recorded nothing emits no event.
	EventBlocksAnchored = "BlocksAnchored"
)

// RecordCredentials records consecutive blocks of one appliance in one
// transaction, applying RecordCredential's rules to each in order: block
// N+1 may link to block N of the same batch, and a block already recorded
// identically comes back with Recorded=false. The batch is atomic: if any
// block is refused, the error names its height, keeps the rule's error kind
// (ErrForbidden, ErrConflict, ErrBrokenChain, ErrKeyRevoked, ...), and
// nothing is written. now is the transaction time, as for RecordCredential.
func RecordCredentials(st State, caller Caller, subs []format.Submission, now int64) ([]format.Anchored, error) {
	if err := checkBatch(subs); err != nil {
		return nil, err
	}
	ov := newOverlay(st)
	out := make([]format.Anchored, 0, len(subs))
	var events []json.RawMessage
	for _, sub := range subs {
		c, v, recorded, err := recordCredential(ov, caller, sub, now)
		if err != nil {
			h, _ := format.ParseHeader(sub.Header) // checkBatch parsed it
			return nil, fmt.Errorf("batch of %d blocks of %s, block %d: %w", len(subs), h.ApplianceID, h.Height, err)
		}
		out = append(out, format.Anchored{Credential: c, Recorded: recorded})
		if recorded {
			events = append(events, v)
		}
	}
	if err := ov.flush(); err != nil {
		return nil, err
	}
	if len(events) > 0 {
		payload, err := json.Marshal(events)
		if err != nil {
			return nil, fmt.Errorf("encode %s event: %w", EventBlocksAnchored, err)
		}
		if err := st.SetEvent(EventBlocksAnchored, payload); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkBatch refuses an empty or oversized batch, and one that is not
// consecutive heights of a single appliance.
func checkBatch(subs []format.Submission) error {
	switch {
	case len(subs) == 0:
		return fmt.Errorf("%w: empty batch", ErrInvalid)
	case len(subs) > format.MaxBatchCount:
		return fmt.Errorf("%w: batch of %d credentials exceeds the limit of %d", ErrInvalid, len(subs), format.MaxBatchCount)
	}
	size := 0
	for _, s := range subs {
		size += format.SubmissionSize(s)
	}
	if size > format.MaxBatchBytes {
		return fmt.Errorf("%w: batch of %d bytes exceeds the limit of %d", ErrInvalid, size, format.MaxBatchBytes)
	}
	var first *format.Header
	for i, s := range subs {
		h, err := format.ParseHeader(s.Header)
		if err != nil {
			return fmt.Errorf("%w: batch entry %d: %v", ErrInvalid, i, err)
		}
		if i == 0 {
			first = h
			continue
		}
		if h.ApplianceID != first.ApplianceID {
			return fmt.Errorf("%w: batch entry %d is a block of %s, the batch is of %s", ErrInvalid, i, h.ApplianceID, first.ApplianceID)
		}
		if want := first.Height + uint64(i); h.Height != want {
			return fmt.Errorf("%w: batch entry %d is block %d of %s, want %d: a batch holds consecutive blocks, each once", ErrInvalid, i, h.Height, h.ApplianceID, want)
		}
	}
	return nil
}

// overlay is a State whose reads see its own pending writes. On Fabric a
// transaction's GetState returns committed state only, so without it
// block N+1 of a batch would not find block N written earlier in the same
// batch. Writes reach the underlying State only on flush, so a refused
// batch writes nothing whatever State does with partial writes.
type overlay struct {
	State
	reads  map[string][]byte // committed values already read (nil = absent)
	writes map[string][]byte
	order  []string // write order, so flush is deterministic
}

func newOverlay(st State) *overlay {
	return &overlay{State: st, reads: map[string][]byte{}, writes: map[string][]byte{}}
}

func (o *overlay) GetState(key string) ([]byte, error) {
	if v, ok := o.writes[key]; ok {
		return slices.Clone(v), nil
	}
	if v, ok := o.reads[key]; ok {
		return slices.Clone(v), nil
	}
	v, err := o.State.GetState(key)
	if err != nil {
		return nil, err
	}
	// Cached: every block of a batch reads the same appliance record.
	o.reads[key] = slices.Clone(v)
	return v, nil
}

func (o *overlay) PutState(key string, value []byte) error {
	if _, ok := o.writes[key]; !ok {
		o.order = append(o.order, key)
	}
	o.writes[key] = slices.Clone(value)
	return nil
}

// SetEvent is refused: the batch emits its one event itself.
func (o *overlay) SetEvent(name string, _ []byte) error {
	return fmt.Errorf("event %s inside a batch: a batch emits one event", name)
}

func (o *overlay) flush() error {
	for _, k := range o.order {
		if err := o.State.PutState(k, o.writes[k]); err != nil {
			return fmt.Errorf("write batch: %w", err)
		}
	}
	return nil
}
