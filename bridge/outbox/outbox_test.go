package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/ledger"
	"github.com/wotchain/wotchain/bridge/objstore"
	"github.com/wotchain/wotchain/bridge/outbox"
	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

var discard = slog.New(slog.DiscardHandler)

// flakyStorage is a filesystem object store that fails the first fails Puts.
type flakyStorage struct {
	mu    sync.Mutex
	fs    *objstore.FS
	fails int
	puts  []string // names of successful puts, in order
	calls int
	log   *[]string
}

func (s *flakyStorage) Put(ctx context.Context, name string, data []byte) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fails > 0 {
		s.fails--
		return "", errors.New("storage unavailable")
	}
	loc, err := s.fs.Put(ctx, name, data)
	if err == nil {
		s.puts = append(s.puts, name)
		if s.log != nil {
			*s.log = append(*s.log, "upload "+name)
		}
	}
	return loc, err
}

// recordingLedger wraps the embedded ledger, optionally failing, and logs calls.
type recordingLedger struct {
	mu    sync.Mutex
	led   *ledger.Embedded
	fails int
	log   *[]string
}

func (l *recordingLedger) Anchor(ctx context.Context, sub format.Submission) (*format.Credential, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fails > 0 {
		l.fails--
		return nil, false, errors.New("ledger unreachable")
	}
	c, rec, err := l.led.Anchor(ctx, sub)
	if err == nil && l.log != nil {
		*l.log = append(*l.log, "anchor "+sub.ObjectHash)
	}
	return c, rec, err
}

// fixture is a chain sealing blocks of at most 4 readings, with the
// blocks sealed so far.
type fixture struct {
	*pipelinetest.Chain
	sealed []*store.BlockRecord
}

// newFixture builds the chain, with the appliance registered on the
// ledger or not.
func newFixture(t *testing.T, register bool) *fixture {
	t.Helper()
	opts := []pipelinetest.Option{pipelinetest.WithMaxReadings(4)}
	if !register {
		opts = append(opts, pipelinetest.WithUnregisteredAppliance())
	}
	return &fixture{Chain: pipelinetest.New(t, opts...)}
}

// sealBlocks ingests n polls of 4 readings and seals them: n blocks.
func (f *fixture) sealBlocks(t *testing.T, n int) {
	t.Helper()
	f.Ingest(t, slices.Repeat([]int{4}, n)...)
	recs := f.Seal(t)
	if len(recs) != n {
		t.Fatalf("sealed %d blocks, want %d", len(recs), n)
	}
	f.sealed = append(f.sealed, recs...)
}

func (f *fixture) state(t *testing.T, height uint64) store.BlockState {
	t.Helper()
	rec, err := f.Store.Block(height)
	if err != nil {
		t.Fatal(err)
	}
	return rec.State
}

func step(t *testing.T, o *outbox.Outbox) bool {
	t.Helper()
	busy, err := o.Step(context.Background())
	if err != nil {
		t.Fatalf("Step: %v", err)
	}
	return busy
}

func TestStepSealedUploadedAnchored(t *testing.T) {
	f := newFixture(t, true)
	f.sealBlocks(t, 1)
	storage := &flakyStorage{fs: f.Storage}
	o := outbox.New(f.Store, storage, f.Ledger, discard)
	var anchored []uint64
	o.OnAnchored = func(r *store.BlockRecord) { anchored = append(anchored, r.Height) }

	if !step(t, o) {
		t.Fatal("Step found nothing to do")
	}
	rec, _ := f.Store.Block(0)
	if rec.State != store.Uploaded || rec.Location != f.Storage.Location(rec.ObjectHash) {
		t.Fatalf("after one step: %s at %q", rec.State, rec.Location)
	}
	obj, err := f.Storage.Get(context.Background(), rec.Location)
	local, _ := f.Store.Object(0)
	if err != nil || string(obj) != string(local) {
		t.Fatalf("uploaded object differs from the sealed one: %v", err)
	}
	if _, err := f.Ledger.Credential(context.Background(), rec.BlockID); !errors.Is(err, rules.ErrNotFound) {
		t.Fatalf("anchored before the second step: %v", err)
	}

	if !step(t, o) {
		t.Fatal("second Step found nothing to do")
	}
	if s := f.state(t, 0); s != store.Anchored {
		t.Fatalf("after two steps: %s", s)
	}
	cred, err := f.Ledger.Credential(context.Background(), rec.BlockID)
	if err != nil || cred.ObjectHash != rec.ObjectHash || cred.Location != rec.Location {
		t.Fatalf("credential %+v, %v", cred, err)
	}
	if out, _ := f.Store.Outbox(); len(out) != 0 {
		t.Fatalf("anchored block still in the outbox: %v", out)
	}
	if !slices.Equal(anchored, []uint64{0}) {
		t.Fatalf("OnAnchored called for %v", anchored)
	}
	if step(t, o) {
		t.Fatal("Step with an empty outbox reported work")
	}
	if storage.calls != 1 {
		t.Fatalf("%d uploads for one block", storage.calls)
	}
}

func TestFailingUploadRetried(t *testing.T) {
	f := newFixture(t, true)
	f.sealBlocks(t, 1)
	storage := &flakyStorage{fs: f.Storage, fails: 2}
	o := outbox.New(f.Store, storage, f.Ledger, discard)
	for i := 0; i < 2; i++ {
		busy, err := o.Step(context.Background())
		if err == nil || !busy {
			t.Fatalf("attempt %d: busy=%v err=%v, want a failure", i, busy, err)
		}
		if outbox.IsPermanent(err) {
			t.Fatalf("storage failure reported as permanent: %v", err)
		}
		rec, _ := f.Store.Block(0)
		if rec.State != store.Sealed || rec.Location != "" {
			t.Fatalf("after a failed upload the block is %s at %q", rec.State, rec.Location)
		}
		if out, _ := f.Store.Outbox(); !slices.Equal(out, []uint64{0}) {
			t.Fatalf("outbox %v", out)
		}
	}
	step(t, o)
	if s := f.state(t, 0); s != store.Uploaded {
		t.Fatalf("after a successful retry: %s", s)
	}
	step(t, o)
	if s := f.state(t, 0); s != store.Anchored {
		t.Fatalf("after anchoring: %s", s)
	}
}

func TestResumeUploadedBlock(t *testing.T) {
	f := newFixture(t, true)
	f.sealBlocks(t, 1)
	step(t, outbox.New(f.Store, &flakyStorage{fs: f.Storage}, f.Ledger, discard))
	if s := f.state(t, 0); s != store.Uploaded {
		t.Fatalf("state %s", s)
	}
	// A new outbox (restart) whose storage is down: the block is already
	// uploaded, so it anchors without touching storage.
	dead := &flakyStorage{fs: f.Storage, fails: 1 << 30}
	o := outbox.New(f.Store, dead, f.Ledger, discard)
	step(t, o)
	if s := f.state(t, 0); s != store.Anchored {
		t.Fatalf("resumed block is %s", s)
	}
	if dead.calls != 0 {
		t.Fatalf("resumed outbox uploaded again (%d calls)", dead.calls)
	}
}

func TestAnchorAlreadyOnLedger(t *testing.T) {
	f := newFixture(t, true)
	f.sealBlocks(t, 1)
	o := outbox.New(f.Store, &flakyStorage{fs: f.Storage}, f.Ledger, discard)
	step(t, o)
	rec, _ := f.Store.Block(0)
	// Crash after the ledger recorded the credential but before UpdateBlock.
	if _, recorded, err := f.Ledger.Anchor(context.Background(), format.Submission{
		Header: rec.Header, HeaderSig: rec.HeaderSig, ObjectHash: rec.ObjectHash, Location: rec.Location,
	}); err != nil || !recorded {
		t.Fatalf("direct Anchor: recorded=%v err=%v", recorded, err)
	}
	if s := f.state(t, 0); s != store.Uploaded {
		t.Fatalf("state %s", s)
	}
	called := 0
	o.OnAnchored = func(*store.BlockRecord) { called++ }
	step(t, o)
	if s := f.state(t, 0); s != store.Anchored {
		t.Fatalf("block already on the ledger ends %s", s)
	}
	if out, _ := f.Store.Outbox(); len(out) != 0 {
		t.Fatalf("outbox %v", out)
	}
	if called != 1 {
		t.Fatalf("OnAnchored called %d times", called)
	}
}

func TestHeightOrder(t *testing.T) {
	f := newFixture(t, true)
	f.sealBlocks(t, 3)
	var log []string
	storage := &flakyStorage{fs: f.Storage, log: &log}
	led := &recordingLedger{led: f.Ledger, fails: 1, log: &log}
	o := outbox.New(f.Store, storage, led, discard)

	step(t, o) // block 0 uploaded
	// Anchoring block 0 fails once: block 1 must wait, not be uploaded or anchored first.
	if _, err := o.Step(context.Background()); err == nil {
		t.Fatal("failing ledger: Step succeeded")
	}
	for h, want := range []store.BlockState{store.Uploaded, store.Sealed, store.Sealed} {
		if s := f.state(t, uint64(h)); s != want {
			t.Fatalf("block %d is %s after block 0's anchoring failed, want %s", h, s, want)
		}
	}
	for i := 0; i < 10 && step(t, o); i++ {
	}
	var want []string
	for _, r := range f.sealed {
		want = append(want, "upload "+r.ObjectHash, "anchor "+r.ObjectHash)
	}
	if !slices.Equal(log, want) {
		t.Fatalf("operations %v\nwant %v", log, want)
	}
	for h := range f.sealed {
		if s := f.state(t, uint64(h)); s != store.Anchored {
			t.Fatalf("block %d is %s", h, s)
		}
	}
}

func TestLedgerRefusalIsPermanent(t *testing.T) {
	f := newFixture(t, false) // appliance not registered on the ledger
	f.sealBlocks(t, 1)
	o := outbox.New(f.Store, &flakyStorage{fs: f.Storage}, f.Ledger, discard)
	step(t, o)
	_, err := o.Step(context.Background())
	if !errors.Is(err, rules.ErrUnknownAppliance) || !outbox.IsPermanent(err) {
		t.Fatalf("anchoring for an unregistered appliance: %v (permanent=%v)", err, outbox.IsPermanent(err))
	}
	if s := f.state(t, 0); s != store.Uploaded {
		t.Fatalf("refused block is %s", s)
	}
}

func TestIsPermanent(t *testing.T) {
	for _, e := range []error{rules.ErrForbidden, rules.ErrConflict, rules.ErrBadSignature, rules.ErrUnknownAppliance, rules.ErrKeyRevoked} {
		if !outbox.IsPermanent(fmt.Errorf("anchor block 3: %w", e)) {
			t.Errorf("%v not permanent", e)
		}
	}
	for _, e := range []error{errors.New("timeout"), context.DeadlineExceeded, rules.ErrNotFound} {
		if outbox.IsPermanent(e) {
			t.Errorf("%v permanent", e)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	o := outbox.New(nil, nil, nil, discard)
	o.MinBackoff, o.MaxBackoff = 100*time.Millisecond, 5*time.Second
	for failures := 1; failures <= 80; failures++ {
		full := min(o.MinBackoff<<min(failures-1, 16), o.MaxBackoff)
		for i := 0; i < 20; i++ {
			d := o.Backoff(failures)
			if d < full/2 || d > full {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", failures, d, full/2, full)
			}
		}
	}
}

func TestRunDrainsAndStops(t *testing.T) {
	f := newFixture(t, true)
	f.sealBlocks(t, 2)
	o := outbox.New(f.Store, &flakyStorage{fs: f.Storage, fails: 2}, f.Ledger, discard)
	o.MinBackoff, o.MaxBackoff = time.Millisecond, 2*time.Millisecond
	anchored := make(chan uint64, 10)
	o.OnAnchored = func(r *store.BlockRecord) { anchored <- r.Height }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { o.Run(ctx); close(done) }()
	for _, want := range []uint64{0, 1} {
		select {
		case h := <-anchored:
			if h != want {
				t.Fatalf("anchored block %d, want %d", h, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not anchor the blocks")
		}
	}
	// Idle: a newly sealed block is picked up after Notify.
	f.sealBlocks(t, 1)
	o.Notify()
	select {
	case h := <-anchored:
		if h != 2 {
			t.Fatalf("anchored block %d, want 2", h)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not pick up the block after Notify")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
