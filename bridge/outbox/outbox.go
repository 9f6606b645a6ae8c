// Package outbox moves sealed blocks through sealed -> uploaded -> anchored.
// The state of every block is in the store, so after a restart the outbox
// resumes where it stopped; both steps are idempotent (content-addressed
// upload, the contract's same-credential rule), so repeating one after a
// crash never stores or anchors a block twice.
//
// Uploading and anchoring run as two lanes, each with its own retries, so a
// ledger outage does not hold up uploads. Both go in height order: uploads
// take the lowest sealed block, and anchoring takes the run of uploaded
// blocks at the head of the outbox (the ledger accepts a block only after
// its predecessor, so a block is anchored only after every lower one). A
// ledger with AnchorBatch records such a run in one transaction.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// Storage receives encrypted block objects.
type Storage interface {
	Put(ctx context.Context, name string, data []byte) (location string, err error)
}

// Ledger records block credentials.
type Ledger interface {
	Anchor(ctx context.Context, sub format.Submission) (*format.Credential, bool, error)
}

// BatchLedger is a Ledger that also records consecutive blocks of one
// appliance in one transaction, results in submission order. The
// transaction is all or nothing; a ledger that cannot make it so returns,
// with its error, the results of the blocks it did record, in order.
type BatchLedger interface {
	Ledger
	AnchorBatch(ctx context.Context, subs []format.Submission) ([]format.Anchored, error)
}

// Outbox drives pending blocks to the ledger.
type Outbox struct {
	st      *store.Store
	storage Storage
	ledger  Ledger
	batch   BatchLedger // nil: the ledger anchors one block per call
	log     *slog.Logger

	// Notify wakes both lanes; an upload wakes the anchoring lane.
	wakeUpload, wakeAnchor chan struct{}
	// uploadFrom is a height below which no block is sealed: blocks only
	// move forward, so the upload lane need not read them again.
	uploadFrom uint64

	storageErrors, ledgerErrors atomic.Uint64
	lastAnchorErr               atomic.Pointer[string] // nil: the last attempt succeeded

	// MinBackoff and MaxBackoff bound the wait after a failed step.
	MinBackoff, MaxBackoff time.Duration
	// StepTimeout bounds one upload or anchoring call, so a server that
	// accepts connections but never answers cannot stall the outbox.
	StepTimeout time.Duration
	// MaxBatch and MaxBatchBytes (format.SubmissionSize) bound the blocks
	// anchored in one transaction when the ledger has AnchorBatch; the
	// contract's format.MaxBatchCount and format.MaxBatchBytes bound them in
	// turn. A block larger than MaxBatchBytes is anchored on its own.
	MaxBatch, MaxBatchBytes int
	// OnAnchored, if set, is called for each newly anchored block, in
	// height order.
	OnAnchored func(*store.BlockRecord)
}

// New returns an outbox; call Run to start it.
func New(st *store.Store, storage Storage, ledger Ledger, log *slog.Logger) *Outbox {
	o := &Outbox{st: st, storage: storage, ledger: ledger, log: log,
		wakeUpload: make(chan struct{}, 1), wakeAnchor: make(chan struct{}, 1),
		MinBackoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second, StepTimeout: time.Minute,
		MaxBatch: 64, MaxBatchBytes: format.MaxBatchBytes}
	o.batch, _ = ledger.(BatchLedger)
	return o
}

// Notify tells the outbox that new blocks were sealed.
func (o *Outbox) Notify() {
	wake(o.wakeUpload)
	wake(o.wakeAnchor)
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Step does one piece of work: it anchors the uploaded blocks at the head
// of the outbox if there are any, else uploads the lowest sealed block. It
// reports whether there was anything to do. Run does the same work in two
// lanes, so that uploads go on while anchoring fails; Step and Run must not
// run at the same time.
func (o *Outbox) Step(ctx context.Context) (bool, error) {
	busy, err := o.stepAnchor(ctx)
	if busy || err != nil {
		return busy, err
	}
	return o.stepUpload(ctx)
}

func (o *Outbox) stepContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if o.StepTimeout > 0 {
		return context.WithTimeout(ctx, o.StepTimeout)
	}
	return ctx, func() {}
}

// stepUpload uploads the lowest sealed block, if any.
func (o *Outbox) stepUpload(ctx context.Context) (bool, error) {
	ctx, cancel := o.stepContext(ctx)
	defer cancel()
	pending, err := o.st.Outbox()
	if err != nil {
		return false, err
	}
	for _, h := range pending {
		if h < o.uploadFrom {
			continue
		}
		rec, err := o.st.Block(h)
		if err != nil {
			return true, err
		}
		switch rec.State {
		case store.Uploaded:
			o.uploadFrom = h + 1
		case store.Sealed:
			if err := o.upload(ctx, rec); err != nil {
				return true, err
			}
			o.uploadFrom = h + 1
			wake(o.wakeAnchor)
			return true, nil
		default:
			return true, fmt.Errorf("block %d in the outbox is %s", rec.Height, rec.State)
		}
	}
	return false, nil
}

func (o *Outbox) upload(ctx context.Context, rec *store.BlockRecord) error {
	if rec.Dropped {
		// The data is gone; the credential still links the chain and tells
		// partners the readings existed and were dropped at the appliance.
		rec.Location, rec.State = DroppedLocation, store.Uploaded
		if err := o.st.UpdateBlock(rec); err != nil {
			return err
		}
		o.log.Warn("block dropped by the disk budget: anchoring its credential without data", "height", rec.Height)
		return nil
	}
	obj, err := o.st.Object(rec.Height)
	if err != nil {
		return err
	}
	loc, err := o.storage.Put(ctx, rec.ObjectHash, obj)
	if err != nil {
		o.storageErrors.Add(1)
		return fmt.Errorf("upload block %d: %w", rec.Height, err)
	}
	rec.Location, rec.State = loc, store.Uploaded
	if err := o.st.UpdateBlock(rec); err != nil {
		return err
	}
	o.log.Info("block uploaded", "height", rec.Height, "object", rec.ObjectHash, "location", loc)
	return nil
}

// headRun reads the head of the outbox and returns the run of uploaded
// blocks that ChooseRun picks for one anchoring call, lowest first.
func (o *Outbox) headRun() ([]*store.BlockRecord, error) {
	pending, err := o.st.Outbox()
	if err != nil {
		return nil, err
	}
	limits := LimitsFor(o.batch != nil, o.MaxBatch, o.MaxBatchBytes)
	var recs []*store.BlockRecord
	var head []Head
	for _, h := range pending[:min(len(pending), limits.Count)] {
		rec, err := o.st.Block(h)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
		head = append(head, Head{Height: rec.Height, State: rec.State, Size: format.SubmissionSize(submission(rec))})
		if rec.State != store.Uploaded {
			break // no run goes past it: spare the reads
		}
	}
	n, err := ChooseRun(head, limits)
	if err != nil {
		return nil, err
	}
	return recs[:n], nil
}

func submission(rec *store.BlockRecord) format.Submission {
	return format.Submission{Header: rec.Header, HeaderSig: rec.HeaderSig, ObjectHash: rec.ObjectHash, Location: rec.Location, KeyID: rec.KeyID}
}

// stepAnchor anchors the head of the outbox and keeps the outcome for
// LastAnchorError.
func (o *Outbox) stepAnchor(ctx context.Context) (bool, error) {
	busy, err := o.anchorHead(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		msg := err.Error()
		o.lastAnchorErr.Store(&msg)
	case err == nil && busy:
		o.lastAnchorErr.Store(nil)
	}
	return busy, err
}

// LastAnchorError is the error of the last anchoring attempt, "" when it
// succeeded (or none failed): what an operator must read when anchoring
// stalls (a refusal by the ledger, such as a revoked key).
func (o *Outbox) LastAnchorError() string {
	if p := o.lastAnchorErr.Load(); p != nil {
		return *p
	}
	return ""
}

// anchorHead anchors the run of uploaded blocks at the head of the outbox:
// one block through Anchor, several through AnchorBatch.
func (o *Outbox) anchorHead(ctx context.Context) (bool, error) {
	ctx, cancel := o.stepContext(ctx)
	defer cancel()
	run, err := o.headRun()
	if err != nil || len(run) == 0 {
		return err != nil, err
	}
	var results []format.Anchored
	if len(run) == 1 {
		// One block keeps the single transaction and its BlockAnchored event.
		var c *format.Credential
		var recorded bool
		if c, recorded, err = o.ledger.Anchor(ctx, submission(run[0])); err == nil {
			results = []format.Anchored{{Credential: c, Recorded: recorded}}
		}
	} else {
		subs := make([]format.Submission, len(run))
		for i, rec := range run {
			subs[i] = submission(rec)
		}
		results, err = o.batch.AnchorBatch(ctx, subs)
	}
	if len(results) > len(run) || (err == nil && len(results) != len(run)) {
		o.ledgerErrors.Add(1)
		return true, fmt.Errorf("anchor %s: the ledger answered with %d credentials", span(run), len(results))
	}
	for i, r := range results {
		if r.Credential == nil || r.Credential.BlockID != run[i].BlockID {
			o.ledgerErrors.Add(1)
			return true, fmt.Errorf("anchor %s: the ledger answered for block %d with another credential", span(run), run[i].Height)
		}
	}
	// What the ledger recorded is marked even when it then failed.
	for i, r := range results {
		rec := run[i]
		rec.State = store.Anchored
		if err := o.st.UpdateBlock(rec); err != nil {
			return true, err
		}
		o.log.Info("block anchored", "height", rec.Height, "block", rec.BlockID, "readings", rec.LastSeq-rec.FirstSeq+1,
			"seq_first", rec.FirstSeq, "seq_last", rec.LastSeq, "already_on_ledger", !r.Recorded, "batch", len(run))
		if o.OnAnchored != nil {
			o.OnAnchored(rec)
		}
	}
	if err != nil {
		o.ledgerErrors.Add(1)
		if errors.Is(err, rules.ErrKeyRevoked) {
			return true, fmt.Errorf("anchor %s: %w; a block signed by a revoked key is never anchored under it, and the blocks after it wait behind it (each needs its predecessor on the ledger): the appliance re-seals them under its current key when it next starts, after wotchain rotate-key if the revoked key is the current one; their readings are kept (docs/OPERATIONS.md)",
				span(run[len(results):]), err)
		}
		return true, fmt.Errorf("anchor %s: %w", span(run[len(results):]), err)
	}
	return true, nil
}

// span names a run of blocks in errors.
func span(run []*store.BlockRecord) string {
	if len(run) == 1 {
		return fmt.Sprintf("block %d", run[0].Height)
	}
	return fmt.Sprintf("blocks %d..%d", run[0].Height, run[len(run)-1].Height)
}

// Run uploads and anchors until ctx ends, in two lanes that each back off
// exponentially (with jitter) after failures and sleep until there is work
// when idle. A newly sealed block cuts a backoff short, so a server that
// is down is tried at most once per seal besides the backoff, and one that
// is back is found at the next seal.
func (o *Outbox) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); o.runLane(ctx, "upload", o.wakeUpload, o.stepUpload) }()
	go func() { defer wg.Done(); o.runLane(ctx, "anchor", o.wakeAnchor, o.stepAnchor) }()
	wg.Wait()
}

func (o *Outbox) runLane(ctx context.Context, lane string, woken <-chan struct{}, step func(context.Context) (bool, error)) {
	failures := 0
	for {
		busy, err := step(ctx)
		var wait <-chan time.Time
		switch {
		case err != nil && ctx.Err() == nil:
			failures++
			d := o.backoff(failures)
			level := slog.LevelWarn
			if IsPermanent(err) {
				level = slog.LevelError // the ledger refused: an operator must act
			}
			o.log.Log(ctx, level, "outbox step failed; will retry", "lane", lane, "err", err, "retry_in", d, "attempt", failures)
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
		case <-woken:
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
		errors.Is(err, rules.ErrBadSignature) || errors.Is(err, rules.ErrUnknownAppliance) || errors.Is(err, rules.ErrKeyRevoked)
}
