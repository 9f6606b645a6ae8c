package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/outbox"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/internal/testserver"
)

// batchLedger wraps the embedded ledger with AnchorBatch, logs the heights
// of each call and can be taken down.
type batchLedger struct {
	mu       sync.Mutex
	led      outbox.BatchLedger
	down     bool
	calls    [][]uint64 // heights per call that reached the ledger
	batches  int        // AnchorBatch calls that succeeded
	anchored []uint64   // heights the ledger newly recorded, in order
	// answer, if set, replaces the ledger's results (a misbehaving ledger).
	answer func([]format.Anchored) ([]format.Anchored, error)
}

func heightOf(sub format.Submission) uint64 {
	h, err := format.ParseHeader(sub.Header)
	if err != nil {
		panic(err)
	}
	return h.Height
}

func (l *batchLedger) Anchor(ctx context.Context, sub format.Submission) (*format.Credential, bool, error) {
	out, err := l.AnchorBatch(ctx, []format.Submission{sub})
	if err != nil {
		return nil, false, err
	}
	l.mu.Lock()
	l.batches-- // counted as a single anchor, not a batch
	l.mu.Unlock()
	return out[0].Credential, out[0].Recorded, nil
}

func (l *batchLedger) AnchorBatch(ctx context.Context, subs []format.Submission) ([]format.Anchored, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var hs []uint64
	for _, s := range subs {
		hs = append(hs, heightOf(s))
	}
	l.calls = append(l.calls, hs)
	if l.down {
		return nil, errors.New("ledger unreachable")
	}
	out, err := l.led.AnchorBatch(ctx, subs)
	if err != nil {
		return nil, err
	}
	for _, a := range out {
		if a.Recorded {
			l.anchored = append(l.anchored, a.Credential.Height)
		}
	}
	l.batches++
	if l.answer != nil {
		return l.answer(out)
	}
	return out, nil
}

func (l *batchLedger) setDown(down bool) {
	l.mu.Lock()
	l.down = down
	l.mu.Unlock()
}

func (l *batchLedger) snapshot() (calls [][]uint64, batches int, anchored []uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls), l.batches, slices.Clone(l.anchored)
}

// logRecorder keeps the records the outbox logs.
type logRecorder struct {
	mu   sync.Mutex
	recs []map[string]any
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	m := map[string]any{"msg": rec.Message}
	rec.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.Any(); return true })
	r.mu.Lock()
	r.recs = append(r.recs, m)
	r.mu.Unlock()
	return nil
}

// anchoredLines returns "height:already_on_ledger:batch" per "block anchored" line.
func (r *logRecorder) anchoredLines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.recs {
		if m["msg"] == "block anchored" {
			out = append(out, fmt.Sprintf("%v:%v:%v", m["height"], m["already_on_ledger"], m["batch"]))
		}
	}
	return out
}

func (f *fixture) states(t *testing.T) []store.BlockState {
	t.Helper()
	var out []store.BlockState
	for h := range f.sealed {
		out = append(out, f.state(t, uint64(h)))
	}
	return out
}

func (f *fixture) uploadAll(t *testing.T, o *outbox.Outbox) {
	t.Helper()
	for {
		busy, err := o.StepUpload(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !busy {
			return
		}
	}
}

func repeatState(s store.BlockState, n int) []store.BlockState {
	return slices.Repeat([]store.BlockState{s}, n)
}

// batchOutbox seals n blocks and returns an outbox over them that anchors
// through a batchLedger and logs to a logRecorder.
func (f *fixture) batchOutbox(t *testing.T, n int) (*outbox.Outbox, *batchLedger, *logRecorder) {
	t.Helper()
	f.sealBlocks(t, n)
	led := &batchLedger{led: f.Ledger}
	logs := &logRecorder{}
	return outbox.New(f.Store, &flakyStorage{fs: f.Storage}, led, slog.New(logs)), led, logs
}

func TestBatchAnchorsHeadRun(t *testing.T) {
	f := newFixture(t, true)
	o, led, logs := f.batchOutbox(t, 5)
	var onAnchored []uint64
	o.OnAnchored = func(r *store.BlockRecord) { onAnchored = append(onAnchored, r.Height) }

	f.uploadAll(t, o)
	if got := f.states(t); !slices.Equal(got, repeatState(store.Uploaded, 5)) {
		t.Fatalf("states after uploading %v", got)
	}
	if !step(t, o) {
		t.Fatal("Step found nothing to anchor")
	}
	calls, batches, anchored := led.snapshot()
	if fmt.Sprint(calls) != "[[0 1 2 3 4]]" || batches != 1 {
		t.Fatalf("ledger calls %v (%d batches), want one batch of blocks 0..4", calls, batches)
	}
	if !slices.Equal(anchored, []uint64{0, 1, 2, 3, 4}) || !slices.Equal(onAnchored, anchored) {
		t.Fatalf("ledger recorded %v, OnAnchored %v", anchored, onAnchored)
	}
	if got := f.states(t); !slices.Equal(got, repeatState(store.Anchored, 5)) {
		t.Fatalf("states after the batch %v", got)
	}
	if got := logs.anchoredLines(); fmt.Sprint(got) != "[0:false:5 1:false:5 2:false:5 3:false:5 4:false:5]" {
		t.Fatalf("anchored log lines %v", got)
	}
	for _, rec := range f.sealed {
		if c, err := f.Ledger.Credential(context.Background(), rec.BlockID); err != nil || c.Location != f.Storage.Location(rec.ObjectHash) {
			t.Fatalf("credential of block %d: %+v, %v", rec.Height, c, err)
		}
	}
	if out, _ := f.Store.Outbox(); len(out) != 0 {
		t.Fatalf("outbox %v", out)
	}
	if step(t, o) {
		t.Fatal("Step with an empty outbox reported work")
	}
}

func TestBatchCaps(t *testing.T) {
	cases := []struct {
		name  string
		set   func(o *outbox.Outbox, size int)
		calls string
	}{
		{"count", func(o *outbox.Outbox, _ int) { o.MaxBatch = 3 }, "[[0 1 2] [3 4 5] [6]]"},
		{"bytes", func(o *outbox.Outbox, size int) { o.MaxBatchBytes = 2*size + size/2 }, "[[0 1] [2 3] [4 5] [6]]"},
		{"a block over the byte cap goes alone", func(o *outbox.Outbox, size int) { o.MaxBatchBytes = size / 2 }, "[[0] [1] [2] [3] [4] [5] [6]]"},
		{"zero count still anchors", func(o *outbox.Outbox, _ int) { o.MaxBatch = 0 }, "[[0] [1] [2] [3] [4] [5] [6]]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, true)
			o, led, _ := f.batchOutbox(t, 7)
			f.uploadAll(t, o)
			rec, _ := f.Store.Block(0)
			c.set(o, format.SubmissionSize(outbox.Submission(rec)))
			for i := 0; step(t, o); i++ {
				if i > 10 {
					t.Fatal("outbox does not drain")
				}
			}
			calls, _, anchored := led.snapshot()
			if fmt.Sprint(calls) != c.calls {
				t.Fatalf("ledger calls %v, want %s", calls, c.calls)
			}
			if !slices.Equal(anchored, []uint64{0, 1, 2, 3, 4, 5, 6}) {
				t.Fatalf("anchored %v", anchored)
			}
		})
	}
}

// A crash after the ledger recorded part of a run but before the store
// knew: the retried batch returns those blocks as already recorded, and
// every block is reported once.
func TestBatchPartlyOnLedger(t *testing.T) {
	f := newFixture(t, true)
	o, _, logs := f.batchOutbox(t, 4)
	f.uploadAll(t, o)
	var subs []format.Submission
	for h := range uint64(2) {
		rec, _ := f.Store.Block(h)
		subs = append(subs, outbox.Submission(rec))
	}
	if _, err := f.Ledger.AnchorBatch(context.Background(), subs); err != nil {
		t.Fatal(err)
	}
	var onAnchored []uint64
	o.OnAnchored = func(r *store.BlockRecord) { onAnchored = append(onAnchored, r.Height) }
	step(t, o)
	if got := f.states(t); !slices.Equal(got, repeatState(store.Anchored, 4)) {
		t.Fatalf("states %v", got)
	}
	if !slices.Equal(onAnchored, []uint64{0, 1, 2, 3}) {
		t.Fatalf("OnAnchored %v", onAnchored)
	}
	if got := logs.anchoredLines(); fmt.Sprint(got) != "[0:true:4 1:true:4 2:false:4 3:false:4]" {
		t.Fatalf("anchored log lines %v", got)
	}
}

func TestBatchRefusedMarksNothing(t *testing.T) {
	f := newFixture(t, false) // appliance not registered
	o, _, _ := f.batchOutbox(t, 3)
	o.OnAnchored = func(r *store.BlockRecord) { t.Errorf("OnAnchored for refused block %d", r.Height) }
	f.uploadAll(t, o)
	busy, err := o.Step(context.Background())
	if !busy || !errors.Is(err, rules.ErrUnknownAppliance) || !outbox.IsPermanent(err) || !strings.Contains(err.Error(), "blocks 0..2") {
		t.Fatalf("Step: busy=%v err=%v, want a permanent refusal naming blocks 0..2", busy, err)
	}
	if got := f.states(t); !slices.Equal(got, repeatState(store.Uploaded, 3)) {
		t.Fatalf("states %v", got)
	}
	if s, l := o.Errors(); s != 0 || l != 1 {
		t.Fatalf("errors: storage %d, ledger %d", s, l)
	}
}

// A ledger that records blocks one by one and fails in between returns
// what it recorded: those blocks are anchored, the rest retried.
func TestBatchPartialResults(t *testing.T) {
	f := newFixture(t, true)
	o, led, _ := f.batchOutbox(t, 4)
	led.answer = func(out []format.Anchored) ([]format.Anchored, error) {
		led.answer = nil
		return out[:2], errors.New("peer went away after block 1")
	}
	var onAnchored []uint64
	o.OnAnchored = func(r *store.BlockRecord) { onAnchored = append(onAnchored, r.Height) }
	f.uploadAll(t, o)
	_, err := o.Step(context.Background())
	if err == nil || !strings.Contains(err.Error(), "blocks 2..3") {
		t.Fatalf("Step: %v, want an error naming blocks 2..3", err)
	}
	want := []store.BlockState{store.Anchored, store.Anchored, store.Uploaded, store.Uploaded}
	if got := f.states(t); !slices.Equal(got, want) {
		t.Fatalf("states %v, want %v", got, want)
	}
	step(t, o)
	if got := f.states(t); !slices.Equal(got, repeatState(store.Anchored, 4)) || !slices.Equal(onAnchored, []uint64{0, 1, 2, 3}) {
		t.Fatalf("states %v, OnAnchored %v", got, onAnchored)
	}
}

func TestBatchWrongAnswer(t *testing.T) {
	for name, answer := range map[string]func([]format.Anchored) ([]format.Anchored, error){
		"swapped": func(out []format.Anchored) ([]format.Anchored, error) {
			out[0], out[1] = out[1], out[0]
			return out, nil
		},
		"short":             func(out []format.Anchored) ([]format.Anchored, error) { return out[:1], nil },
		"too many":          func(out []format.Anchored) ([]format.Anchored, error) { return append(out, out[0]), nil },
		"no credential":     func(out []format.Anchored) ([]format.Anchored, error) { out[1].Credential = nil; return out, nil },
		"nothing, no error": func([]format.Anchored) ([]format.Anchored, error) { return nil, nil },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, true)
			o, led, _ := f.batchOutbox(t, 2)
			led.answer = answer
			f.uploadAll(t, o)
			if _, err := o.Step(context.Background()); err == nil {
				t.Fatal("Step accepted a wrong answer")
			}
			if got := f.states(t); !slices.Equal(got, repeatState(store.Uploaded, 2)) {
				t.Fatalf("states %v", got)
			}
			if _, l := o.Errors(); l != 1 {
				t.Fatalf("%d ledger errors, want 1", l)
			}
		})
	}
}

func runOutbox(t *testing.T, o *outbox.Outbox) {
	t.Helper()
	o.MinBackoff, o.MaxBackoff = time.Millisecond, 5*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { o.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}

// While the ledger is down, blocks are still uploaded; when it is back,
// the backlog is anchored in one batch, in order.
func TestUploadsContinueDuringLedgerOutage(t *testing.T) {
	f := newFixture(t, true)
	led := &batchLedger{led: f.Ledger, down: true}
	storage := &flakyStorage{fs: f.Storage}
	o := outbox.New(f.Store, storage, led, discard)
	var mu sync.Mutex
	var onAnchored []uint64
	o.OnAnchored = func(r *store.BlockRecord) { mu.Lock(); onAnchored = append(onAnchored, r.Height); mu.Unlock() }
	f.sealBlocks(t, 3)
	runOutbox(t, o)

	allUploaded := func(n int) func() bool {
		return func() bool { return slices.Equal(f.states(t), repeatState(store.Uploaded, n)) }
	}
	testserver.WaitFor(t, 10*time.Second, "3 blocks uploaded with the ledger down", allUploaded(3))
	f.sealBlocks(t, 2)
	o.Notify()
	testserver.WaitFor(t, 10*time.Second, "the 2 blocks sealed later uploaded too", allUploaded(5))
	testserver.WaitFor(t, 10*time.Second, "anchoring retried", func() bool { _, l := o.Errors(); return l >= 2 })
	if s, _ := o.Errors(); s != 0 {
		t.Fatalf("%d storage errors", s)
	}

	led.setDown(false)
	testserver.WaitFor(t, 10*time.Second, "the backlog anchored", func() bool { mu.Lock(); defer mu.Unlock(); return len(onAnchored) == 5 })
	if got := f.states(t); !slices.Equal(got, repeatState(store.Anchored, 5)) {
		t.Fatalf("states %v", got)
	}
	calls, batches, anchored := led.snapshot()
	if !slices.Equal(anchored, []uint64{0, 1, 2, 3, 4}) {
		t.Fatalf("ledger recorded heights %v", anchored)
	}
	if batches != 1 || fmt.Sprint(calls[len(calls)-1]) != "[0 1 2 3 4]" {
		t.Fatalf("%d successful batches, last call %v: want the backlog in one batch", batches, calls[len(calls)-1])
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(onAnchored, []uint64{0, 1, 2, 3, 4}) {
		t.Fatalf("OnAnchored %v", onAnchored)
	}
	storage.mu.Lock()
	defer storage.mu.Unlock()
	if storage.calls != 5 {
		t.Fatalf("%d uploads for 5 blocks", storage.calls)
	}
}

// gatedStorage fails while down.
type gatedStorage struct {
	flakyStorage
	down bool
}

func (g *gatedStorage) Put(ctx context.Context, name string, data []byte) (string, error) {
	g.mu.Lock()
	down := g.down
	if down {
		g.calls++
	}
	g.mu.Unlock()
	if down {
		return "", errors.New("storage unavailable")
	}
	return g.flakyStorage.Put(ctx, name, data)
}

// With block 2 stuck in upload, blocks 3 and 4, although uploaded, wait:
// a block is anchored only after every lower block.
func TestStorageOutageKeepsAnchorOrder(t *testing.T) {
	f := newFixture(t, true)
	f.sealBlocks(t, 5)
	led := &batchLedger{led: f.Ledger}
	storage := &gatedStorage{flakyStorage: flakyStorage{fs: f.Storage}}
	o := outbox.New(f.Store, storage, led, discard)
	// Blocks 0 and 1 go up; then storage fails, and blocks 3 and 4 are
	// uploaded behind the outbox's back (as by an earlier run).
	for range 2 {
		if _, err := o.StepUpload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	storage.down = true
	for h := uint64(3); h < 5; h++ {
		rec, _ := f.Store.Block(h)
		obj, _ := f.Store.Object(h)
		loc, err := f.Storage.Put(context.Background(), rec.ObjectHash, obj)
		if err != nil {
			t.Fatal(err)
		}
		rec.Location, rec.State = loc, store.Uploaded
		if err := f.Store.UpdateBlock(rec); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var onAnchored []uint64
	o.OnAnchored = func(r *store.BlockRecord) { mu.Lock(); onAnchored = append(onAnchored, r.Height); mu.Unlock() }
	runOutbox(t, o)

	testserver.WaitFor(t, 10*time.Second, "blocks 0 and 1 anchored", func() bool {
		return f.state(t, 0) == store.Anchored && f.state(t, 1) == store.Anchored
	})
	testserver.WaitFor(t, 10*time.Second, "uploads of block 2 retried", func() bool { s, _ := o.Errors(); return s >= 3 })
	want := []store.BlockState{store.Anchored, store.Anchored, store.Sealed, store.Uploaded, store.Uploaded}
	if got := f.states(t); !slices.Equal(got, want) {
		t.Fatalf("states during the storage outage %v, want %v", got, want)
	}

	storage.mu.Lock()
	storage.down = false
	storage.mu.Unlock()
	o.Notify()
	testserver.WaitFor(t, 10*time.Second, "all anchored", func() bool { mu.Lock(); defer mu.Unlock(); return len(onAnchored) == 5 })
	if got := f.states(t); !slices.Equal(got, repeatState(store.Anchored, 5)) {
		t.Fatalf("states %v", got)
	}
	calls, _, anchored := led.snapshot()
	if !slices.Equal(anchored, []uint64{0, 1, 2, 3, 4}) {
		t.Fatalf("ledger recorded heights %v (calls %v)", anchored, calls)
	}
	if fmt.Sprint(calls[len(calls)-1]) != "[2 3 4]" {
		t.Fatalf("ledger calls %v: blocks 2..4 should go in one batch", calls)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(onAnchored, []uint64{0, 1, 2, 3, 4}) {
		t.Fatalf("OnAnchored %v", onAnchored)
	}
}
