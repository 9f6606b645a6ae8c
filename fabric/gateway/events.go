package fabricledger

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"

	"github.com/wotchain/wotchain/chaincode/rules"
)

// AnchoredEvent is a committed BlockAnchored event: a credential that a
// valid transaction recorded.
type AnchoredEvent struct {
	BlockNumber uint64 // ledger block holding the transaction
	TxID        string
	Credential  *rules.Credential
}

// FollowAnchored calls handle for every BlockAnchored event committed on the
// channel, in ledger order. It starts after the position saved in
// checkpointFile (from the first block when the file is new; "" keeps the
// position in memory only) and saves the position after each event handle
// accepts, so a restarted follower resumes without gaps. An event may be
// handled twice if the process stops between handle and the save: handle
// must be idempotent. A broken event stream is reopened with backoff from
// the saved position. FollowAnchored returns nil when ctx is done, or the
// first error handle returns.
func (l *Ledger) FollowAnchored(ctx context.Context, checkpointFile string, handle func(context.Context, AnchoredEvent) error) error {
	type checkpointer interface {
		client.Checkpoint
		CheckpointChaincodeEvent(*client.ChaincodeEvent) error
	}
	var cp checkpointer = memoryCheckpoint{new(client.InMemoryCheckpointer)}
	if checkpointFile != "" {
		fcp, err := client.NewFileCheckpointer(checkpointFile)
		if err != nil {
			return fmt.Errorf("event checkpoint %s: %w", checkpointFile, err)
		}
		defer fcp.Close()
		cp = fcp
	}
	network := l.gw.GetNetwork(l.cfg.Channel)
	wait := l.cfg.Retry.Initial
	for {
		streamCtx, cancel := context.WithCancel(ctx)
		// WithStartBlock(0) applies only while the checkpoint is empty.
		events, err := network.ChaincodeEvents(streamCtx, l.cfg.Chaincode, client.WithStartBlock(0), client.WithCheckpoint(cp))
		if err == nil {
			wait = l.cfg.Retry.Initial
			err = l.drain(streamCtx, events, cp, handle)
			if err != nil {
				cancel()
				return err
			}
		}
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		l.log.Warn("chaincode event stream ended; reconnecting", "err", err, "after", wait, "block", cp.BlockNumber())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, l.cfg.Retry.Max)
	}
}

// drain handles events until the stream closes (nil) or handle fails.
func (l *Ledger) drain(ctx context.Context, events <-chan *client.ChaincodeEvent, cp interface {
	CheckpointChaincodeEvent(*client.ChaincodeEvent) error
}, handle func(context.Context, AnchoredEvent) error) error {
	for ev := range events {
		if ev.EventName == rules.EventBlockAnchored {
			var c rules.Credential
			if err := json.Unmarshal(ev.Payload, &c); err != nil {
				return fmt.Errorf("event of transaction %s in block %d: corrupt credential: %w", ev.TransactionID, ev.BlockNumber, err)
			}
			if err := handle(ctx, AnchoredEvent{BlockNumber: ev.BlockNumber, TxID: ev.TransactionID, Credential: &c}); err != nil {
				return err
			}
		}
		if err := cp.CheckpointChaincodeEvent(ev); err != nil {
			return fmt.Errorf("save event checkpoint: %w", err)
		}
	}
	return nil
}

// memoryCheckpoint gives the in-memory checkpointer the file one's signature.
type memoryCheckpoint struct{ *client.InMemoryCheckpointer }

func (m memoryCheckpoint) CheckpointChaincodeEvent(ev *client.ChaincodeEvent) error {
	m.InMemoryCheckpointer.CheckpointChaincodeEvent(ev)
	return nil
}
