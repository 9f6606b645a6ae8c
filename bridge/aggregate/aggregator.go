package aggregate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/internal/durable"
	"github.com/wotchain/wotchain/protocols"
)

// Store is what the aggregator reads. *store.Store implements it.
type Store interface {
	NextSeq() (uint64, error)
	Reading(seq uint64) ([]byte, error)
	Readings(first, last uint64) ([][]byte, error)
	BlockForSeq(seq uint64) (*store.BlockRecord, error)
	PointReadings(device, point string, from, to int64, fn func(seq uint64) (bool, error)) error
}

// Emitter stores the aggregates of one device's closed windows as one
// signed poll; *ingest.Ingester implements it. Each sample has Received
// (the window's end) and SourceTime (its start) set.
type Emitter interface {
	Ingest(deviceID string, samples []protocols.Sample, at time.Time) (first, last uint64, err error)
}

// Options are the aggregator's settings that do not come from its section.
type Options struct {
	// StateFile keeps the open windows and the position across restarts,
	// for example <data_dir>/aggregate.state. Deleting it is safe: the
	// aggregator then replays the store from the first reading and skips
	// every window it finds already stored.
	StateFile string
	Logger    *slog.Logger // nil: discard
	// CheckpointInterval is how often Run saves the state while readings
	// stream in; default 5s. Longer means a longer replay after a crash,
	// never a different result.
	CheckpointInterval time.Duration
	// PollInterval is how often Run checks the store without a Notify;
	// default 5s.
	PollInterval time.Duration
}

// Stats describe the aggregator for health and metrics.
type Stats struct {
	ProcessedSeq uint64 // every reading up to this seq is aggregated
	Lag          uint64 // stored readings not yet aggregated
	Emitted      uint64 // windows stored since start
	Replayed     uint64 // windows found already stored (replay after a restart)
	Partial      uint64 // windows not emitted because they began before the aggregator saw their readings
	Late         uint64 // samples dropped because their window had closed
	Skipped      uint64 // readings deleted locally (retention, disk budget) before they were aggregated
	OpenWindows  int
	Errors       uint64
	LastError    string
}

// Aggregator computes tumbling-window statistics of every numeric point and
// stores them, through the Emitter, as readings of the point's aggregate
// device, which are then signed, sealed and anchored like any reading.
type Aggregator struct {
	cfg   Config
	st    Store
	out   Emitter
	log   *slog.Logger
	file  string
	every time.Duration
	poll  time.Duration

	eng   *engine // nil: load from the state file on the next Step
	saved uint64  // Seq of the last saved state

	wake                             chan struct{}
	processed, lastStored            atomic.Uint64
	emitted, replayed, partial, errs atomic.Uint64
	late, skipped                    atomic.Uint64
	open                             atomic.Int64
	mu                               sync.Mutex
	lastError                        string
}

// stepLimit bounds one Step, so Run checkpoints during a long replay.
const stepLimit = 16384

// readBatch is how many readings are read from the store at a time.
const readBatch = 512

// New checks the configuration. The state file is read by the first Step.
func New(cfg Config, st Store, out Emitter, opts Options) (*Aggregator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("aggregate: %w", err)
	}
	if opts.StateFile == "" {
		return nil, errors.New("aggregate: no state file")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Aggregator{
		cfg: cfg, st: st, out: out, file: opts.StateFile,
		log:   log.With("component", "aggregate"),
		every: cmp.Or(opts.CheckpointInterval, 5*time.Second),
		poll:  cmp.Or(opts.PollInterval, 5*time.Second),
		wake:  make(chan struct{}, 1),
	}, nil
}

// Notify tells the aggregator that readings up to lastSeq are stored. It
// never blocks; call it from the ingest stage's committed callback.
func (a *Aggregator) Notify(lastSeq uint64) {
	for {
		cur := a.lastStored.Load()
		if lastSeq <= cur || a.lastStored.CompareAndSwap(cur, lastSeq) {
			break
		}
	}
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Stats returns the current statistics.
func (a *Aggregator) Stats() Stats {
	s := Stats{
		ProcessedSeq: a.processed.Load(),
		Emitted:      a.emitted.Load(), Replayed: a.replayed.Load(), Partial: a.partial.Load(),
		Late: a.late.Load(), Skipped: a.skipped.Load(), OpenWindows: int(a.open.Load()), Errors: a.errs.Load(),
	}
	stored := a.lastStored.Load()
	if next, err := a.st.NextSeq(); err == nil {
		stored = max(stored, next-1)
	}
	if stored > s.ProcessedSeq {
		s.Lag = stored - s.ProcessedSeq
	}
	a.mu.Lock()
	s.LastError = a.lastError
	a.mu.Unlock()
	return s
}

func (a *Aggregator) fail(err error) {
	a.errs.Add(1)
	a.mu.Lock()
	a.lastError = err.Error()
	a.mu.Unlock()
}

// Run aggregates until ctx ends: on every Notify, and every poll interval
// as a fallback. It saves the state every CheckpointInterval and when it
// stops, and returns nil when ctx ends.
func (a *Aggregator) Run(ctx context.Context) error {
	poll := time.NewTicker(a.poll)
	defer poll.Stop()
	lastSave := time.Now()
	for {
		n, err := a.Step(ctx)
		if err != nil {
			a.fail(err)
			a.log.Error("aggregation failed; retrying from the last saved state", "err", err)
		}
		if time.Since(lastSave) >= a.every || ctx.Err() != nil {
			if err := a.Checkpoint(); err != nil {
				a.fail(err)
				a.log.Error("saving aggregation state failed", "err", err)
			}
			lastSave = time.Now()
		}
		if ctx.Err() != nil {
			return nil
		}
		if n > 0 && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
		case <-a.wake:
		case <-poll.C:
		}
	}
}

// Step aggregates up to stepLimit stored readings after the position and
// stores the windows they close. It returns how many readings it
// processed. Run calls it; call it directly only without Run (tests, a
// one-shot rebuild), and never concurrently with Checkpoint. After an error the in-memory state is dropped and the next
// Step resumes from the saved state: already stored windows are found and
// skipped, so nothing is emitted twice.
func (a *Aggregator) Step(ctx context.Context) (int, error) {
	if a.eng == nil {
		if err := a.load(); err != nil {
			return 0, err
		}
	}
	n, err := a.step(ctx)
	if err != nil {
		a.eng = nil
		return n, err
	}
	a.processed.Store(a.eng.Seq)
	a.open.Store(int64(a.eng.opened))
	a.late.Store(a.eng.late)
	return n, nil
}

func (a *Aggregator) step(ctx context.Context) (int, error) {
	e := a.eng
	next, err := a.st.NextSeq()
	if err != nil {
		return 0, fmt.Errorf("aggregate: %w", err)
	}
	n := 0
	for e.Seq+1 < next && n < stepLimit && ctx.Err() == nil {
		first := e.Seq + 1
		last := min(next-1, first+readBatch-1)
		raws, deleted, err := store.ReadUpToGap(a.st, first, last)
		if err != nil {
			return n, fmt.Errorf("aggregate: read readings %d..%d: %w", first, last, err)
		}
		if deleted != nil {
			a.log.Warn("readings were deleted locally before they were aggregated (retention or disk budget); windows overlapping them are not stored",
				"seq_first", first, "seq_last", deleted.LastSeq, "block", deleted.Height)
			a.skipped.Add(deleted.LastSeq - first + 1)
			n += int(deleted.LastSeq - first + 1)
			e.skip(deleted.LastSeq)
			continue
		}
		for i, raw := range raws {
			seq := first + uint64(i)
			r, err := reading.Decode(raw)
			if err != nil {
				return n, fmt.Errorf("aggregate: reading %d: %w", seq, err)
			}
			if r.Seq != seq {
				return n, fmt.Errorf("aggregate: reading stored at %d says seq %d", seq, r.Seq)
			}
			n++
			if IsAggregateDevice(r.DeviceID) {
				e.Seq = seq
				continue
			}
			if err := a.emit(e.feed(r)); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// emit stores the complete windows that are not stored yet, one poll per
// aggregate device.
func (a *Aggregator) emit(windows []closed) error {
	if len(windows) == 0 {
		return nil
	}
	// Group by device, keeping the engine's order within a device.
	slices.SortStableFunc(windows, func(x, y closed) int { return cmp.Compare(x.Device, y.Device) })
	stats := a.cfg.stats()
	for i := 0; i < len(windows); {
		dev := windows[i].Device
		var samples []protocols.Sample
		var end int64
		count := 0
		for ; i < len(windows) && windows[i].Device == dev; i++ {
			w := windows[i]
			if !w.Complete {
				a.partial.Add(1)
				continue
			}
			stored, err := a.stored(w)
			if err != nil {
				return err
			}
			if stored {
				a.replayed.Add(1)
				continue
			}
			samples = append(samples, windowSamples(w, stats)...)
			end = max(end, w.End)
			count++
		}
		if len(samples) == 0 {
			continue
		}
		if _, _, err := a.out.Ingest(AggregateDevice(dev), samples, time.Unix(0, end)); err != nil {
			return fmt.Errorf("aggregate: store aggregates of %s: %w", dev, err)
		}
		a.emitted.Add(uint64(count))
	}
	return nil
}

// stored reports whether the window's aggregates are in the store already
// (emitted before a crash that lost the state saved after them). Any
// statistic counts, so a change of the stats list cannot duplicate a
// window either.
func (a *Aggregator) stored(w closed) (bool, error) {
	dev := AggregateDevice(w.Device)
	for _, s := range AllStats {
		found := false
		err := a.st.PointReadings(dev, PointName(w.Point, time.Duration(w.Size), s), w.End, w.End, func(uint64) (bool, error) {
			found = true
			return false, nil
		})
		if err != nil {
			return false, fmt.Errorf("aggregate: look up %s/%s: %w", dev, w.Point, err)
		}
		if found {
			return true, nil
		}
	}
	return false, nil
}

// windowSamples are the aggregate samples of a window. The appliance time
// of each is the window's end (Received), the source time its start.
func windowSamples(w closed, stats []string) []protocols.Sample {
	q, reason := protocols.Good, ""
	if w.Uncertain {
		q, reason = protocols.Uncertain, "aggregates uncertain values"
	}
	start, end := time.Unix(0, w.Start), time.Unix(0, w.End)
	out := make([]protocols.Sample, 0, len(stats))
	for _, s := range stats {
		smp := protocols.Sample{
			Point: PointName(w.Point, time.Duration(w.Size), s), Unit: w.Unit,
			Quality: q, Reason: reason, SourceTime: start, Received: end,
		}
		switch s {
		case StatCount:
			smp.Value, smp.Unit = w.Count, ""
		case StatMin:
			smp.Value = w.Min
		case StatMax:
			smp.Value = w.Max
		case StatMean:
			smp.Value = w.Mean
		case StatLast:
			smp.Value = w.Last
		case StatTWMean:
			smp.Value = w.TWMean
		}
		out = append(out, smp)
	}
	return out
}

// snapshot is the saved state: the engine and the configuration it ran with.
type snapshot struct {
	Version   int           `cbor:"1,keyasint"`
	Seq       uint64        `cbor:"2,keyasint"`
	Watermark int64         `cbor:"3,keyasint"`
	Sizes     []int64       `cbor:"4,keyasint"`
	Since     []int64       `cbor:"5,keyasint"`
	Points    []*pointState `cbor:"6,keyasint"`
	Late      uint64        `cbor:"7,keyasint"`
	Gap       bool          `cbor:"8,keyasint,omitempty"`
}

const snapshotVersion = 1

func (a *Aggregator) sizes() []int64 {
	var out []int64
	for _, w := range a.cfg.windows() {
		out = append(out, int64(w))
	}
	return out
}

// load reads the saved state, or starts from the first reading when there
// is none.
func (a *Aggregator) load() error {
	sizes := a.sizes()
	grace := int64(a.cfg.grace())
	data, err := os.ReadFile(a.file)
	if errors.Is(err, os.ErrNotExist) {
		a.log.Info("no aggregation state: aggregating the store from the first reading", "state_file", a.file)
		a.eng = newEngine(sizes, grace)
		return nil
	}
	if err != nil {
		return fmt.Errorf("aggregate: read state: %w", err)
	}
	var s snapshot
	if err := format.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("aggregate: state file %s is corrupt (delete it to rebuild from the store): %w", a.file, err)
	}
	if s.Version != snapshotVersion {
		return fmt.Errorf("aggregate: state file %s has version %d, want %d (delete it to rebuild from the store)", a.file, s.Version, snapshotVersion)
	}
	next, err := a.st.NextSeq()
	if err != nil {
		return fmt.Errorf("aggregate: %w", err)
	}
	if s.Seq >= next {
		// The store is older than the state (restored from a backup):
		// rebuild rather than trust windows of readings that are gone.
		a.log.Warn("aggregation state is ahead of the store; rebuilding from the first reading", "state_seq", s.Seq, "store_next_seq", next)
		a.eng = newEngine(sizes, grace)
		return nil
	}
	a.eng = adopt(&s, sizes, grace)
	a.saved = s.Seq
	a.log.Info("aggregation resumed", "after_seq", s.Seq, "points", len(s.Points))
	return nil
}

// adopt builds an engine from a snapshot under the current window sizes:
// open windows of removed sizes are dropped; a new size is complete only
// from windows starting at or after the snapshot's watermark.
func adopt(s *snapshot, sizes []int64, grace int64) *engine {
	e := &engine{Seq: s.Seq, Watermark: s.Watermark, Sizes: sizes, Since: make([]int64, len(sizes)), Gap: s.Gap, grace: grace, late: s.Late}
	old := map[int64]int{}
	for i, size := range s.Sizes {
		old[size] = i
	}
	for i, size := range sizes {
		if j, ok := old[size]; ok && j < len(s.Since) {
			e.Since[i] = s.Since[j]
		} else {
			e.Since[i] = s.Watermark
			if s.Watermark == 0 {
				e.Since[i] = math.MinInt64
			}
		}
	}
	for _, p := range s.Points {
		open := make([]*windowState, len(sizes))
		for i, size := range sizes {
			if j, ok := old[size]; ok && j < len(p.Open) {
				open[i] = p.Open[j]
			}
		}
		p.Open = open
		e.Points = append(e.Points, p)
	}
	e.index()
	return e
}

// Checkpoint saves the state atomically (write, sync, rename), if it
// changed since the last save.
func (a *Aggregator) Checkpoint() error {
	e := a.eng
	if e == nil || e.Seq == a.saved {
		return nil
	}
	e.sortPoints()
	data, err := format.Marshal(&snapshot{
		Version: snapshotVersion, Seq: e.Seq, Watermark: e.Watermark,
		Sizes: e.Sizes, Since: e.Since, Points: e.Points, Late: e.late, Gap: e.Gap,
	})
	if err != nil {
		return fmt.Errorf("aggregate: encode state: %w", err)
	}
	if err := writeFileAtomic(a.file, data); err != nil {
		return fmt.Errorf("aggregate: save state: %w", err)
	}
	a.saved = e.Seq
	return nil
}

func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // no-op after the rename
	if err := durable.Write(f, data); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
