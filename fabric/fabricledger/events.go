package fabricledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"

	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// AnchoredEvent is a credential that a valid transaction recorded: the
// payload of a BlockAnchored event (RecordCredential), or one of the
// credentials of a BlocksAnchored event (RecordCredentials, a batch).
type AnchoredEvent struct {
	BlockNumber uint64 // ledger block holding the transaction
	TxID        string
	Index       int // position in the transaction's event: 0 for a single credential
	Credential  *format.Credential
}

// FollowAnchored calls handle for every credential announced by a
// BlockAnchored or BlocksAnchored event committed on the channel, in ledger
// order and, within a batch, in height order. It starts after the position
// saved in checkpointFile (from the first block when the file is new; ""
// keeps the position in memory only) and saves the position after each
// credential handle accepts, so a restarted follower resumes without gaps,
// also in the middle of a batch (the position inside a batch is kept in
// checkpointFile+".batch": the gateway's checkpoint counts transactions). A
// credential may be handled twice if the process stops between handle and
// the save: handle must be idempotent. A broken event stream is reopened
// with backoff from the saved position. FollowAnchored returns nil when ctx
// is done, or the first error handle returns.
func (l *Ledger) FollowAnchored(ctx context.Context, checkpointFile string, handle func(context.Context, AnchoredEvent) error) error {
	type checkpointer interface {
		client.Checkpoint
		CheckpointChaincodeEvent(*client.ChaincodeEvent) error
	}
	var cp checkpointer = memoryCheckpoint{new(client.InMemoryCheckpointer)}
	mark := &batchMark{}
	if checkpointFile != "" {
		var err error
		if mark, err = loadBatchMark(checkpointFile + ".batch"); err != nil {
			return err
		}
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
			err = l.drain(streamCtx, events, cp, mark, handle)
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
}, mark *batchMark, handle func(context.Context, AnchoredEvent) error) error {
	for ev := range events {
		creds, err := anchoredCredentials(ev)
		if err != nil {
			return err
		}
		// Credentials handled before a restart in the middle of this batch.
		done := mark.handled(ev)
		for i := done; i < len(creds); i++ {
			if err := handle(ctx, AnchoredEvent{BlockNumber: ev.BlockNumber, TxID: ev.TransactionID, Index: i, Credential: creds[i]}); err != nil {
				return err
			}
			if i+1 < len(creds) {
				if err := mark.save(ev, i+1); err != nil {
					return err
				}
			}
		}
		if err := cp.CheckpointChaincodeEvent(ev); err != nil {
			return fmt.Errorf("save event checkpoint: %w", err)
		}
	}
	return nil
}

// anchoredCredentials decodes the credentials an event announces: one for
// BlockAnchored, a list for BlocksAnchored, none for other events.
func anchoredCredentials(ev *client.ChaincodeEvent) ([]*format.Credential, error) {
	var creds []*format.Credential
	var err error
	switch ev.EventName {
	case rules.EventBlockAnchored:
		var c format.Credential
		err = json.Unmarshal(ev.Payload, &c)
		creds = []*format.Credential{&c}
	case rules.EventBlocksAnchored:
		err = json.Unmarshal(ev.Payload, &creds)
		if err == nil && slices.Contains(creds, nil) {
			err = errors.New("null credential in the list")
		}
	default:
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s event of transaction %s in block %d: corrupt credential: %w", ev.EventName, ev.TransactionID, ev.BlockNumber, err)
	}
	for i, c := range creds {
		if err := c.CheckSummary(); err != nil {
			return nil, fmt.Errorf("%s event of transaction %s in block %d, credential %d: %w", ev.EventName, ev.TransactionID, ev.BlockNumber, i, err)
		}
	}
	return creds, nil
}

// batchMark is how many credentials of one transaction's event have been
// handled, saved (path != "") while a follower works through a batch.
type batchMark struct {
	path          string
	BlockNumber   uint64 `json:"blockNumber"`
	TransactionID string `json:"transactionId"`
	Handled       int    `json:"handled"`
}

func loadBatchMark(path string) (*batchMark, error) {
	m := &batchMark{path: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err == nil {
		err = json.Unmarshal(b, m)
	}
	if err != nil {
		return nil, fmt.Errorf("batch event checkpoint %s: %w", path, err)
	}
	return m, nil
}

// handled returns how many of ev's credentials were handled already.
func (m *batchMark) handled(ev *client.ChaincodeEvent) int {
	if m.TransactionID == ev.TransactionID && m.BlockNumber == ev.BlockNumber {
		return m.Handled
	}
	return 0
}

func (m *batchMark) save(ev *client.ChaincodeEvent, handled int) error {
	m.BlockNumber, m.TransactionID, m.Handled = ev.BlockNumber, ev.TransactionID, handled
	if m.path == "" {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("save batch event checkpoint: %w", err)
	}
	// Replaced whole, so a crash leaves the old mark or the new one.
	tmp := m.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("save batch event checkpoint: %w", err)
	}
	if err := os.Rename(tmp, m.path); err != nil {
		return fmt.Errorf("save batch event checkpoint: %w", err)
	}
	return nil
}

// memoryCheckpoint gives the in-memory checkpointer the file one's signature.
type memoryCheckpoint struct{ *client.InMemoryCheckpointer }

func (m memoryCheckpoint) CheckpointChaincodeEvent(ev *client.ChaincodeEvent) error {
	m.InMemoryCheckpointer.CheckpointChaincodeEvent(ev)
	return nil
}
