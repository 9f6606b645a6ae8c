package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/ledger"
	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/internal/testserver"
	"github.com/wotchain/wotchain/protocols"
)

// world is the chain fixture's store, keys, filesystem storage and
// embedded ledger (the appliance registered), with a pipeline's config.
type world struct {
	st      *store.Store
	led     *ledger.Embedded
	cfg     Config
	mu      sync.Mutex
	anchors []uint64
}

func newWorld(t *testing.T, maxReadings int, sealInterval time.Duration) *world {
	t.Helper()
	c := pipelinetest.New(t)
	w := &world{st: c.Store, led: c.Ledger}
	w.cfg = Config{ApplianceID: c.ApplianceID, Store: c.Store, Signing: c.Key, Recipients: c.RecipientKeys(),
		Storage: c.Storage, Ledger: c.Ledger, Owner: c.Owner, MaxReadings: maxReadings, SealInterval: sealInterval,
		RetentionEvery: time.Hour, OutboxMinBackoff: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
		OnAnchored: func(rec *store.BlockRecord) { w.mu.Lock(); w.anchors = append(w.anchors, rec.Height); w.mu.Unlock() }}
	return w
}

func (w *world) newPipeline(t *testing.T) *Pipeline {
	t.Helper()
	p, err := New(w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

// storePolls stores polls of n samples each.
func storePolls(t *testing.T, p *Pipeline, polls, n int) {
	t.Helper()
	for range polls {
		samples := make([]protocols.Sample, n)
		for i := range samples {
			samples[i] = protocols.Sample{Point: fmt.Sprintf("p%d", i), Value: float64(i), Unit: "bar", Quality: protocols.Good}
		}
		if _, _, err := p.Sink().Ingest("press-1", samples, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

// blocks lists the sealed blocks as "first-last:state".
func (w *world) blocks(t *testing.T) []string {
	t.Helper()
	var out []string
	if err := w.st.Blocks(0, func(rec *store.BlockRecord) (bool, error) {
		out = append(out, fmt.Sprintf("%d-%d:%s", rec.FirstSeq, rec.LastSeq, rec.State))
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSealsOnCountFlushesOnStopAndDrains(t *testing.T) {
	w := newWorld(t, 10, time.Hour)
	p := w.newPipeline(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	testserver.WaitFor(t, 10*time.Second, "running", p.Running)

	storePolls(t, p, 5, 5) // 25 readings: two full blocks of two polls, five left
	testserver.WaitFor(t, 10*time.Second, "two blocks sealed on count", func() bool { return len(w.blocks(t)) == 2 })
	testserver.WaitFor(t, 10*time.Second, "two blocks anchored", func() bool { return p.Stats().BlocksAnchored == 2 })
	if got := w.blocks(t); !slices.Equal(got, []string{"1-10:anchored", "11-20:anchored"}) {
		t.Fatalf("blocks before stop %v: the partial tail must wait for the interval", got)
	}

	cancel()
	p.Stop()
	if got := w.blocks(t); !slices.Equal(got, []string{"1-10:anchored", "11-20:anchored", "21-25:anchored"}) {
		t.Fatalf("blocks after stop %v, want the tail sealed and every block anchored", got)
	}
	if out, err := w.st.Outbox(); err != nil || len(out) != 0 {
		t.Fatalf("outbox after the drain %v, %v", out, err)
	}
	s := p.Stats()
	if s.ReadingsStored != 25 || s.BlocksAnchored != 3 || s.SealErrors != 0 || s.StorageErrors != 0 || s.LedgerErrors != 0 {
		t.Fatalf("stats %+v", s)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !slices.Equal(w.anchors, []uint64{0, 1, 2}) {
		t.Fatalf("OnAnchored saw %v", w.anchors)
	}
	for h := range uint64(3) {
		rec, err := w.st.Block(h)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := w.led.Credential(context.Background(), rec.BlockID); err != nil || c.BlockID != rec.BlockID {
			t.Fatalf("credential of block %d: %+v, %v", h, c, err)
		}
	}
}

func TestSealsTheTailOnTheInterval(t *testing.T) {
	w := newWorld(t, 1000, 50*time.Millisecond)
	p := w.newPipeline(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	storePolls(t, p, 1, 3)
	testserver.WaitFor(t, 10*time.Second, "the tail anchored on the interval", func() bool { return p.Stats().BlocksAnchored == 1 })
	if got := w.blocks(t); !slices.Equal(got, []string{"1-3:anchored"}) {
		t.Fatalf("blocks %v", got)
	}
}

func TestSealNowAndStopWithoutRun(t *testing.T) {
	w := newWorld(t, 1000, time.Hour)
	p := w.newPipeline(t)
	storePolls(t, p, 2, 2)
	p.SealNow()
	if got := w.blocks(t); !slices.Equal(got, []string{"1-4:sealed"}) {
		t.Fatalf("blocks after SealNow %v", got)
	}
	storePolls(t, p, 1, 1)
	p.Stop()
	// Run after Stop does nothing.
	p.Run(context.Background())
	if p.Running() {
		t.Fatal("running after Stop")
	}
	if got := w.blocks(t); !slices.Equal(got, []string{"1-4:anchored", "5-5:anchored"}) {
		t.Fatalf("blocks after Stop %v: Stop seals and anchors even without Run", got)
	}
}

// A restarted pipeline resumes the count after the last sealed reading
// and anchors what the last run left in the outbox.
func TestResumesAfterRestart(t *testing.T) {
	w := newWorld(t, 10, time.Hour)
	p, err := New(w.cfg) // never stopped: killed
	if err != nil {
		t.Fatal(err)
	}
	storePolls(t, p, 3, 2)
	p.SealNow() // sealed, never anchored: the outbox never ran
	storePolls(t, p, 1, 2)

	q := w.newPipeline(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go q.Run(ctx)
	testserver.WaitFor(t, 10*time.Second, "the left-over block anchored", func() bool { return q.Stats().BlocksAnchored == 1 })
	storePolls(t, q, 3, 2) // 8 unsealed: below 10
	time.Sleep(100 * time.Millisecond)
	if got := w.blocks(t); len(got) != 1 {
		t.Fatalf("blocks %v: sealed before max_readings", got)
	}
	storePolls(t, q, 1, 2) // 10 unsealed
	testserver.WaitFor(t, 10*time.Second, "a block sealed on count", func() bool { return len(w.blocks(t)) == 2 })
	q.Stop()
	if got := w.blocks(t); !slices.Equal(got, []string{"1-6:anchored", "7-16:anchored"}) {
		t.Fatalf("blocks %v", got)
	}
	if s := q.Stats(); s.ReadingsStored != 8 || s.BlocksAnchored != 2 {
		t.Fatalf("stats of the second run %+v", s)
	}
}

// versions lists the header version of every sealed block.
func (w *world) versions(t *testing.T) []uint8 {
	t.Helper()
	var out []uint8
	if err := w.st.Blocks(0, func(rec *store.BlockRecord) (bool, error) {
		h, err := format.ParseHeader(rec.Header)
		if err != nil {
			return false, err
		}
		out = append(out, h.Version)
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// The appliance writes block format v2 by default; a data dir of an
// earlier version, upgraded in place, keeps its v1 blocks and seals the v1
// polls still pending into v1 blocks before the first v2 block.
func TestFormatDefaultAndUpgrade(t *testing.T) {
	w := newWorld(t, 10, time.Hour)
	w.cfg.Format = 1
	old := w.newPipeline(t)
	if old.Format() != 1 {
		t.Fatalf("Format %d of a v1 pipeline", old.Format())
	}
	storePolls(t, old, 2, 5) // one v1 block on count
	old.SealNow()
	storePolls(t, old, 1, 5) // a v1 poll left unsealed by the old version
	if got := w.versions(t); !slices.Equal(got, []uint8{format.HeaderV1}) {
		t.Fatalf("blocks of the v1 run: versions %v", got)
	}

	w.cfg.Format = 0 // the default: what the daemon and bench run
	p := w.newPipeline(t)
	if p.Format() != DefaultFormat {
		t.Fatalf("Format %d by default, want %d", p.Format(), DefaultFormat)
	}
	storePolls(t, p, 3, 5)
	p.Stop()
	if got := w.blocks(t); !slices.Equal(got, []string{"1-10:anchored", "11-15:anchored", "16-25:anchored", "26-30:anchored"}) {
		t.Fatalf("blocks %v", got)
	}
	if got := w.versions(t); !slices.Equal(got, []uint8{format.HeaderV1, format.HeaderV1, format.HeaderV2, format.HeaderV2}) {
		t.Fatalf("versions %v: the v1 polls in v1 blocks, then v2", got)
	}
	if DefaultFormat != 2 {
		t.Fatalf("DefaultFormat %d", DefaultFormat)
	}
}
