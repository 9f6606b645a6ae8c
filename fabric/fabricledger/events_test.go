package fabricledger

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hyperledger/fabric-gateway/pkg/client"

	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// recordingCheckpoint keeps the last checkpointed event, as the gateway's
// checkpointers do.
type recordingCheckpoint struct{ last *client.ChaincodeEvent }

func (c *recordingCheckpoint) CheckpointChaincodeEvent(ev *client.ChaincodeEvent) error {
	c.last = ev
	return nil
}

func credEvent(t *testing.T, block uint64, tx string, heights ...uint64) *client.ChaincodeEvent {
	t.Helper()
	cred := func(h uint64) *format.Credential {
		c, _ := testCredential(h)
		return c
	}
	ev := &client.ChaincodeEvent{BlockNumber: block, TransactionID: tx, ChaincodeName: "wotchain"}
	var err error
	if len(heights) == 1 && tx != "batch-of-one" {
		ev.EventName = rules.EventBlockAnchored
		ev.Payload, err = json.Marshal(cred(heights[0]))
	} else {
		ev.EventName = rules.EventBlocksAnchored
		var creds []*format.Credential
		for _, h := range heights {
			creds = append(creds, cred(h))
		}
		ev.Payload, err = json.Marshal(creds)
	}
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// stream returns the events the gateway would deliver after checkpoint cp:
// those after its last event.
func stream(all []*client.ChaincodeEvent, cp *recordingCheckpoint) <-chan *client.ChaincodeEvent {
	ch := make(chan *client.ChaincodeEvent, len(all))
	after := cp.last == nil
	for _, ev := range all {
		if after {
			ch <- ev
		}
		if cp.last != nil && ev.TransactionID == cp.last.TransactionID {
			after = true
		}
	}
	close(ch)
	return ch
}

// Single and batch events reach handle as one credential each, in order;
// a follower stopped in the middle of a batch resumes after the last
// credential it handled, not at the start of the batch.
func TestDrainSingleAndBatchEvents(t *testing.T) {
	all := []*client.ChaincodeEvent{
		credEvent(t, 5, "tx-a", 0),
		{BlockNumber: 5, TransactionID: "tx-grant", EventName: rules.EventGrantRecorded, Payload: []byte(`{}`)},
		credEvent(t, 6, "tx-b", 1, 2, 3, 4),
		credEvent(t, 7, "batch-of-one", 5),
		credEvent(t, 7, "tx-c", 6),
	}
	l := &Ledger{log: slog.New(slog.DiscardHandler)}
	errStop := errors.New("stop")
	markPath := filepath.Join(t.TempDir(), "events.checkpoint.batch")

	var seen []uint64
	var index []int
	// stopAt makes handle refuse the credential of that height.
	run := func(stopAt uint64, cp *recordingCheckpoint) error {
		mark, err := loadBatchMark(markPath) // as a restarted follower does
		if err != nil {
			t.Fatal(err)
		}
		return l.drain(context.Background(), stream(all, cp), cp, mark, func(_ context.Context, ev AnchoredEvent) error {
			if ev.Credential.Height == stopAt {
				return errStop
			}
			seen = append(seen, ev.Credential.Height)
			index = append(index, ev.Index)
			return nil
		})
	}
	cp := &recordingCheckpoint{}
	if err := run(3, cp); !errors.Is(err, errStop) {
		t.Fatalf("drain: %v, want the handler's error", err)
	}
	if !slices.Equal(seen, []uint64{0, 1, 2}) || cp.last.TransactionID != "tx-grant" {
		t.Fatalf("before the stop: heights %v, checkpoint at %s", seen, cp.last.TransactionID)
	}
	// Restarted: the batch comes again, from block 3.
	if err := run(6, cp); !errors.Is(err, errStop) {
		t.Fatalf("drain: %v", err)
	}
	if err := run(99, cp); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if !slices.Equal(seen, []uint64{0, 1, 2, 3, 4, 5, 6}) {
		t.Fatalf("heights handled %v, want each of 0..6 once, in order", seen)
	}
	if !slices.Equal(index, []int{0, 0, 1, 2, 3, 0, 0}) {
		t.Fatalf("indexes %v", index)
	}
	if cp.last.TransactionID != "tx-c" {
		t.Fatalf("checkpoint at %s, want tx-c", cp.last.TransactionID)
	}
}

func TestDrainCorruptEvent(t *testing.T) {
	l := &Ledger{log: slog.New(slog.DiscardHandler)}
	forged, _ := testCredential(2)
	forged.LastSeq += 100 // claims readings its signed header does not cover
	for _, ev := range []*client.ChaincodeEvent{
		{BlockNumber: 1, TransactionID: "t0", EventName: rules.EventBlockAnchored, Payload: mustJSON(forged)},
		{BlockNumber: 1, TransactionID: "t1", EventName: rules.EventBlockAnchored, Payload: []byte(`[`)},
		{BlockNumber: 1, TransactionID: "t2", EventName: rules.EventBlocksAnchored, Payload: []byte(`{"blockId":"x"}`)},
		{BlockNumber: 1, TransactionID: "t3", EventName: rules.EventBlocksAnchored, Payload: []byte(`[null]`)},
	} {
		ch := make(chan *client.ChaincodeEvent, 1)
		ch <- ev
		close(ch)
		cp := &recordingCheckpoint{}
		err := l.drain(context.Background(), ch, cp, &batchMark{}, func(context.Context, AnchoredEvent) error { return nil })
		if err == nil || cp.last != nil {
			t.Errorf("corrupt %s event %s: err %v, checkpointed %v", ev.EventName, ev.Payload, err, cp.last != nil)
		}
	}
}
