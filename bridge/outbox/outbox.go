// Package outbox moves sealed blocks through sealed -> uploaded -> anchored.
// The state of every block is in the store, so after a restart the outbox
// resumes where it stopped; both steps are idempotent (content-addressed
// upload, the contract's same-credential rule), so repeating one after a
// crash never stores or anchors a block twice. Blocks go in height order:
// the ledger accepts a block only after its predecessor.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// Storage receives encrypted block objects.
type Storage interface {
	Put(ctx context.Context, name string, data []byte) (location string, err error)
}

// Ledger records block credentials.
type Ledger interface {
	Anchor(ctx context.Context, sub rules.Submission) (*rules.Credential, bool, error)
}

// Outbox drives pending blocks to the ledger.
type Outbox struct {
	st      *store.Store
	storage Storage
	ledger  Ledger
	log     *slog.Logger
	wake    chan struct{}

	storageErrors, ledgerErrors atomic.Uint64

	// MinBackoff and MaxBackoff bound the wait after a failed step.
	MinBackoff, MaxBackoff time.Duration
	// StepTimeout bounds one upload or anchoring call, so a server that
	// accepts connections but never answers cannot stall the outbox.
	StepTimeout time.Duration
	// OnAnchored, if set, is called for each newly anchored block.
	OnAnchored func(*store.BlockRecord)
}

// New returns an outbox; call Run to start it.
func New(st *store.Store, storage Storage, ledger Ledger, log *slog.Logger) *Outbox {
	return &Outbox{st: st, storage: storage, ledger: ledger, log: log, wake: make(chan struct{}, 1),
		MinBackoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second, StepTimeout: time.Minute}
}

// Notify tells the outbox that new blocks were sealed.
func (o *Outbox) Notify() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Step advances the lowest pending block by one state. It reports whether
// there was anything to do.
func (o *Outbox) Step(ctx context.Context) (bool, error) {
	if o.StepTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.StepTimeout)
		defer cancel()
	}
	pending, err := o.st.Outbox()
	if err != nil || len(pending) == 0 {
		return false, err
	}
	rec, err := o.st.Block(pending[0])
	if err != nil {
		return true, err
	}
	switch {
	case rec.State == store.Sealed && rec.Dropped:
		// The data is gone; the credential still links the chain and tells
		// partners the readings existed and were dropped at the appliance.
		rec.Location, rec.State = DroppedLocation, store.Uploaded
		if err := o.st.UpdateBlock(rec); err != nil {
			return true, err
		}
		o.log.Warn("block dropped by the disk budget: anchoring its credential without data", "height", rec.Height)
	case rec.State == store.Sealed:
		obj, err := o.st.Object(rec.Height)
		if err != nil {
			return true, err
		}
		loc, err := o.storage.Put(ctx, rec.ObjectHash, obj)
		if err != nil {
			o.storageErrors.Add(1)
			return true, fmt.Errorf("upload block %d: %w", rec.Height, err)
		}
		rec.Location, rec.State = loc, store.Uploaded
		if err := o.st.UpdateBlock(rec); err != nil {
			return true, err
		}
		o.log.Info("block uploaded", "height", rec.Height, "object", rec.ObjectHash, "location", loc)
	case rec.State == store.Uploaded:
		_, recorded, err := o.ledger.Anchor(ctx, rules.Submission{
			Header: rec.Header, HeaderSig: rec.HeaderSig, ObjectHash: rec.ObjectHash, Location: rec.Location,
		})
		if err != nil {
			o.ledgerErrors.Add(1)
			return true, fmt.Errorf("anchor block %d: %w", rec.Height, err)
		}
		rec.State = store.Anchored
		if err := o.st.UpdateBlock(rec); err != nil {
			return true, err
		}
		o.log.Info("block anchored", "height", rec.Height, "block", rec.BlockID, "readings", rec.LastSeq-rec.FirstSeq+1,
			"seq_first", rec.FirstSeq, "seq_last", rec.LastSeq, "already_on_ledger", !recorded)
		if o.OnAnchored != nil {
			o.OnAnchored(rec)
		}
	default:
		return true, fmt.Errorf("block %d in the outbox is %s", rec.Height, rec.State)
	}
	return true, nil
}

// Run steps until ctx ends, backing off exponentially (with jitter) after
// failures and sleeping until Notify when idle.
func (o *Outbox) Run(ctx context.Context) {
	failures := 0
	for {
		busy, err := o.Step(ctx)
		var wait <-chan time.Time
		switch {
		case err != nil && ctx.Err() == nil:
			failures++
			d := o.backoff(failures)
			level := slog.LevelWarn
			if IsPermanent(err) {
				level = slog.LevelError // the ledger refused: an operator must act
			}
			o.log.Log(ctx, level, "outbox step failed; will retry", "err", err, "retry_in", d, "attempt", failures)
			wait = time.After(d)
		case err != nil:
			return
		case busy:
			failures = 0
			if ctx.Err() != nil {
				return
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-o.wake:
		case <-wait:
		}
	}
}

func (o *Outbox) backoff(failures int) time.Duration {
	d := o.MinBackoff << min(failures-1, 16)
	if d > o.MaxBackoff || d <= 0 {
		d = o.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

// Errors returns how many uploads and anchoring calls failed since start.
func (o *Outbox) Errors() (storage, ledger uint64) {
	return o.storageErrors.Load(), o.ledgerErrors.Load()
}

// DroppedLocation is the storage location anchored for a block whose data
// the disk budget dropped before upload.
const DroppedLocation = "dropped:disk-budget"

// IsPermanent reports whether a ledger error will not go away by retrying
// (the contract refused the credential). The outbox still retries, since a
// refusal usually means the ledger needs an operator (registration), but
// logs it as such.
func IsPermanent(err error) bool {
	return errors.Is(err, rules.ErrForbidden) || errors.Is(err, rules.ErrConflict) ||
		errors.Is(err, rules.ErrBadSignature) || errors.Is(err, rules.ErrUnknownAppliance)
}
