package aggregate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/devstatus"
	"github.com/wotchain/wotchain/bridge/ingest"
	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/retention"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/protocols"
)

const appID = pipelinetest.ApplianceID

// t0 is midnight UTC, so test times read as offsets into a day.
var t0 = time.Unix(1_700_006_400, 0)

type env struct {
	*pipelinetest.Chain
	state string
	cfg   Config
}

func newEnv(t *testing.T, cfg Config, opts ...pipelinetest.Option) *env {
	t.Helper()
	return &env{Chain: pipelinetest.New(t, opts...), state: filepath.Join(t.TempDir(), "aggregate.state"), cfg: cfg}
}

func (e *env) aggregator(t *testing.T, out Emitter) *Aggregator {
	t.Helper()
	if out == nil {
		out = e.Ingester
	}
	a, err := New(e.cfg, e.Store, out, Options{StateFile: e.state})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// catchUp steps until every stored reading is aggregated.
func catchUp(t *testing.T, a *Aggregator) {
	t.Helper()
	for {
		n, err := a.Step(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// obs is one raw sample of a test stream.
type obs struct {
	dev, point string
	at         time.Duration // after t0
	value      any
	q          protocols.Quality
}

func (e *env) ingest(t *testing.T, samples ...obs) {
	t.Helper()
	for _, s := range samples {
		_, _, err := e.Ingester.Ingest(s.dev, []protocols.Sample{{Point: s.point, Value: s.value, Unit: "u", Quality: s.q}}, t0.Add(s.at))
		if err != nil {
			t.Fatal(err)
		}
	}
}

// ---- the straightforward recomputation the aggregator is checked against

type winKey struct {
	dev, point string
	size       time.Duration
	end        int64
}

type winStats struct {
	values    map[string]float64
	uncertain bool
}

type sample struct {
	t         int64
	v         float64
	uncertain bool
}

// recompute derives the windows that must have been emitted from the raw
// readings alone: a window with samples is emitted once a later sample of
// its point exists or some reading is at least grace past its end.
func recompute(t *testing.T, st *store.Store, sizes []time.Duration, grace time.Duration) map[winKey]winStats {
	t.Helper()
	points := map[[2]string][]sample{}
	var maxT int64
	for _, r := range allReadings(t, st) {
		if strings.HasPrefix(r.DeviceID, "agg.") {
			continue
		}
		maxT = max(maxT, r.ApplianceTime)
		if r.Quality == protocols.Bad {
			continue
		}
		var v float64
		switch {
		case r.Float != nil:
			v = *r.Float
		case r.Int != nil:
			v = float64(*r.Int)
		default:
			continue
		}
		k := [2]string{r.DeviceID, r.Point}
		points[k] = append(points[k], sample{r.ApplianceTime, v, r.Quality == protocols.Uncertain})
	}
	out := map[winKey]winStats{}
	for k, ss := range points {
		for _, size := range sizes {
			byWin := map[int64][]sample{}
			for _, s := range ss {
				start := s.t - ((s.t%int64(size))+int64(size))%int64(size)
				byWin[start] = append(byWin[start], s)
			}
			for start, in := range byWin {
				end := start + int64(size)
				later := ss[len(ss)-1].t >= end
				if !later && maxT < end+int64(grace) {
					continue // still open
				}
				var prev *sample
				for i := range ss {
					if ss[i].t < start {
						prev = &ss[i]
					}
				}
				w := winStats{values: map[string]float64{StatCount: float64(len(in)), StatMin: in[0].v, StatMax: in[0].v, StatLast: in[len(in)-1].v}}
				sum := 0.0
				for _, s := range in {
					sum += s.v
					w.values[StatMin] = min(w.values[StatMin], s.v)
					w.values[StatMax] = max(w.values[StatMax], s.v)
					w.uncertain = w.uncertain || s.uncertain
				}
				w.values[StatMean] = sum / float64(len(in))
				a, cur, curT := in[0].t, 0.0, in[0].t
				if prev != nil {
					a, cur, curT = start, prev.v, start
					w.uncertain = w.uncertain || (prev.uncertain && in[0].t > start)
				}
				integral := 0.0
				for _, s := range in {
					integral += cur * float64(s.t-curT) / 1e9
					cur, curT = s.v, s.t
				}
				integral += cur * float64(end-curT) / 1e9
				w.values[StatTWMean] = integral / (float64(end-a) / 1e9)
				out[winKey{k[0], k[1], size, end}] = w
			}
		}
	}
	return out
}

func allReadings(t *testing.T, st *store.Store) []*reading.Reading {
	t.Helper()
	next, err := st.NextSeq()
	if err != nil {
		t.Fatal(err)
	}
	if next == 1 {
		return nil
	}
	var out []*reading.Reading
	for seq := uint64(1); seq < next; seq++ {
		raw, err := st.Reading(seq)
		if store.IsNotFound(err) {
			continue // deleted by TestDeletedReadingsSkipped
		}
		if err != nil {
			t.Fatal(err)
		}
		r, err := reading.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// emitted reads every aggregate reading back from the store and fails on
// any statistic of a window stored twice.
func emitted(t *testing.T, st *store.Store) map[winKey]winStats {
	t.Helper()
	out := map[winKey]winStats{}
	for _, r := range allReadings(t, st) {
		if !strings.HasPrefix(r.DeviceID, "agg.") {
			continue
		}
		parts := strings.Split(r.Point, "/")
		if len(parts) < 3 {
			t.Fatalf("aggregate point %q", r.Point)
		}
		stat, win := parts[len(parts)-1], parts[len(parts)-2]
		size := parseWindowName(t, win)
		k := winKey{strings.TrimPrefix(r.DeviceID, "agg."), strings.Join(parts[:len(parts)-2], "/"), size, r.ApplianceTime}
		if r.SourceTime != r.ApplianceTime-int64(size) {
			t.Errorf("%s %s: source time %d, want the window start %d", r.DeviceID, r.Point, r.SourceTime, r.ApplianceTime-int64(size))
		}
		w, ok := out[k]
		if !ok {
			w = winStats{values: map[string]float64{}}
		}
		if _, dup := w.values[stat]; dup {
			t.Errorf("window %+v: %s stored twice", k, stat)
		}
		v, ok := numeric(r)
		if !ok {
			t.Fatalf("aggregate %s %s is not numeric: %+v", r.DeviceID, r.Point, r)
		}
		w.values[stat] = v
		w.uncertain = w.uncertain || r.Quality == protocols.Uncertain
		out[k] = w
	}
	return out
}

func parseWindowName(t *testing.T, s string) time.Duration {
	t.Helper()
	units := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': day}
	var n int
	if _, err := fmt.Sscanf(s[:len(s)-1], "%d", &n); err != nil || units[s[len(s)-1]] == 0 {
		t.Fatalf("window name %q", s)
	}
	return time.Duration(n) * units[s[len(s)-1]]
}

// compare checks the stored aggregates against the recomputation: the same
// windows, each with every statistic.
func compare(t *testing.T, got, want map[winKey]winStats) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("window %s/%s %s ending %s not stored", k.dev, k.point, k.size, time.Unix(0, k.end).UTC().Format(time.TimeOnly))
			continue
		}
		for _, stat := range AllStats {
			a, b := g.values[stat], w.values[stat]
			if math.Abs(a-b) > 1e-9*max(1, math.Abs(b)) {
				t.Errorf("window %s/%s %s ending %s: %s = %v, want %v", k.dev, k.point, k.size, time.Unix(0, k.end).UTC().Format(time.TimeOnly), stat, a, b)
			}
		}
		if g.uncertain != w.uncertain {
			t.Errorf("window %+v: uncertain %v, want %v", k, g.uncertain, w.uncertain)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("window %s/%s %s ending %s stored but not expected", k.dev, k.point, k.size, time.Unix(0, k.end).UTC().Format(time.TimeOnly))
		}
	}
}

func sec(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// TestEdgeCases feeds small streams and checks the stored aggregates both
// against the recomputation and against hand-computed values.
func TestEdgeCases(t *testing.T) {
	const G, U, B = protocols.Good, protocols.Uncertain, protocols.Bad
	minute := Duration(time.Minute)
	cases := []struct {
		name    string
		samples []obs
		// want: window end (seconds after t0) -> stat -> value, for point
		// d/p and the 1m size; nil checks only against the recomputation.
		want map[int]map[string]float64
		// absent: 1m windows of d/p (end, seconds) that must not exist.
		absent []int
	}{
		{
			name:    "single sample",
			samples: []obs{{"d", "p", sec(10), 5.0, G}, {"clock", "c", sec(200), 0.0, G}},
			want:    map[int]map[string]float64{60: {StatCount: 1, StatMin: 5, StatMax: 5, StatMean: 5, StatLast: 5, StatTWMean: 5}},
		},
		{
			name: "samples exactly at window edges",
			samples: []obs{
				{"d", "p", sec(0), 1.0, G}, {"d", "p", sec(60), 2.0, G}, {"d", "p", sec(90), 4.0, G}, {"d", "p", sec(120), 8.0, G},
			},
			want: map[int]map[string]float64{
				60:  {StatCount: 1, StatMin: 1, StatMax: 1, StatMean: 1, StatLast: 1, StatTWMean: 1},
				120: {StatCount: 2, StatMin: 2, StatMax: 4, StatMean: 3, StatLast: 4, StatTWMean: 3},
			},
			absent: []int{180}, // the sample at 120 opens [120,180), still open
		},
		{
			name:    "empty window between two",
			samples: []obs{{"d", "p", sec(10), 1.0, G}, {"d", "p", sec(130), 3.0, G}, {"d", "p", sec(190), 3.0, G}},
			want: map[int]map[string]float64{
				60:  {StatCount: 1, StatTWMean: 1},
				180: {StatCount: 1, StatMean: 3, StatTWMean: (1*10 + 3*50) / 60.0}, // the value of 10s holds until 130s
			},
			absent: []int{120},
		},
		{
			name: "status records ignored: they neither count nor end a hold",
			samples: []obs{
				{"d", "p", sec(5), 2.0, G}, {"d", devstatus.Point, sec(20), string(devstatus.PollFailing), G}, {"d", "p", sec(35), 6.0, G},
				{"clock", "c", sec(120), 0.0, G},
			},
			want: map[int]map[string]float64{60: {StatCount: 2, StatMin: 2, StatMax: 6, StatMean: 4, StatLast: 6, StatTWMean: (2*30 + 6*25) / 55.0}},
		},
		{
			name: "non-numeric readings ignored",
			samples: []obs{
				{"d", "p", sec(5), 2.0, G}, {"d", "p", sec(10), true, G}, {"d", "p", sec(20), "high", G}, {"d", "p", sec(30), int64(6), G},
				{"d", "s", sec(31), "text", G}, {"d", "b", sec(32), false, G}, {"clock", "c", sec(120), 0.0, G},
			},
			want: map[int]map[string]float64{60: {StatCount: 2, StatMin: 2, StatMax: 6, StatMean: 4, StatLast: 6, StatTWMean: (2*25 + 6*30) / 55.0}},
		},
		{
			name: "bad quality ignored, the previous value holds",
			samples: []obs{
				{"d", "p", sec(0), 2.0, G}, {"d", "p", sec(20), 1000.0, B}, {"d", "p", sec(30), nil, B}, {"d", "p", sec(40), 4.0, G},
				{"clock", "c", sec(120), 0.0, G},
			},
			want: map[int]map[string]float64{60: {StatCount: 2, StatMin: 2, StatMax: 4, StatMean: 3, StatLast: 4, StatTWMean: (2*40 + 4*20) / 60.0}},
		},
		{
			name: "uncertain values count and mark the window",
			samples: []obs{
				{"d", "p", sec(0), 1.0, U}, {"d", "p", sec(30), 3.0, G}, {"d", "p", sec(60), 5.0, G}, {"d", "p", sec(61), 5.0, G},
				{"clock", "c", sec(200), 0.0, G},
			},
			want: map[int]map[string]float64{60: {StatCount: 2, StatMean: 2, StatTWMean: 2}, 120: {StatCount: 2, StatTWMean: 5}},
		},
		{
			name: "closes at end plus grace, not before",
			samples: []obs{
				{"d", "p", sec(10), 1.0, G}, {"clock", "c", sec(64.999), 0.0, G}, // grace 5s: 60+5 not reached
			},
			absent: []int{60},
		},
		{
			name:    "closes exactly at end plus grace",
			samples: []obs{{"d", "p", sec(10), 1.0, G}, {"clock", "c", sec(65), 0.0, G}},
			want:    map[int]map[string]float64{60: {StatCount: 1}},
		},
		{
			name: "late sample dropped",
			samples: []obs{
				{"d", "p", sec(10), 1.0, G}, {"clock", "c", sec(70), 0.0, G}, // closes [0,60)
				{"d", "p", sec(50), 100.0, G},                              // late: its window is stored
				{"d", "p", sec(80), 2.0, G}, {"d", "p", sec(75), 100.0, G}, // late: older than the point's last
				{"d", "p", sec(125), 3.0, G},
			},
			want: map[int]map[string]float64{
				60:  {StatCount: 1, StatMax: 1},
				120: {StatCount: 1, StatMax: 2, StatTWMean: (1*20 + 2*40) / 60.0},
			},
		},
		{
			name:    "no numeric samples, no aggregates",
			samples: []obs{{"d", "p", sec(10), "a", G}, {"d", "p", sec(20), nil, B}, {"clock", "x", sec(500), true, G}},
			absent:  []int{60},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{Windows: []Duration{minute, 5 * minute}})
			e.ingest(t, tc.samples...)
			a := e.aggregator(t, nil)
			catchUp(t, a)
			got := emitted(t, e.Store)
			late := strings.Contains(tc.name, "late")
			if !late {
				compare(t, got, recompute(t, e.Store, []time.Duration{time.Minute, 5 * time.Minute}, DefaultGrace))
			}
			for end, stats := range tc.want {
				w, ok := got[winKey{"d", "p", time.Minute, t0.Add(time.Duration(end) * time.Second).UnixNano()}]
				if !ok {
					t.Errorf("window ending at %ds not stored; stored: %v", end, windowList(got))
					continue
				}
				for stat, v := range stats {
					if math.Abs(w.values[stat]-v) > 1e-9 {
						t.Errorf("window ending at %ds: %s = %v, want %v", end, stat, w.values[stat], v)
					}
				}
			}
			for _, end := range tc.absent {
				if _, ok := got[winKey{"d", "p", time.Minute, t0.Add(time.Duration(end) * time.Second).UnixNano()}]; ok {
					t.Errorf("window ending at %ds stored, want none", end)
				}
			}
			if late && a.Stats().Late != 2 {
				t.Errorf("late samples %d, want 2", a.Stats().Late)
			}
			if strings.HasPrefix(tc.name, "uncertain") {
				if !got[winKey{"d", "p", time.Minute, t0.Add(60 * time.Second).UnixNano()}].uncertain ||
					got[winKey{"d", "p", time.Minute, t0.Add(120 * time.Second).UnixNano()}].uncertain {
					t.Errorf("uncertain flags wrong: %v", got)
				}
			}
		})
	}
}

func windowList(m map[winKey]winStats) []string {
	var out []string
	for k := range m {
		out = append(out, fmt.Sprintf("%s/%s/%s@%s", k.dev, k.point, k.size, time.Unix(0, k.end).UTC().Format(time.TimeOnly)))
	}
	sort.Strings(out)
	return out
}

// stream ingests a random multi-device stream over appliance time
// [from, from+span): mixed types and qualities, bursts, equal times and
// gaps longer than an hour.
type stream struct {
	rng   *mrand.Rand
	clock time.Time
}

func (s *stream) ingest(t *testing.T, in *ingest.Ingester, span time.Duration) {
	t.Helper()
	end := s.clock.Add(span)
	for s.clock.Before(end) {
		switch r := s.rng.IntN(100); {
		case r < 1:
			s.clock = s.clock.Add(time.Duration(60+s.rng.IntN(5400)) * time.Second) // outage
		case r < 10: // same time as the previous poll
		default:
			s.clock = s.clock.Add(time.Duration(s.rng.IntN(20_000)) * time.Millisecond)
		}
		dev := fmt.Sprintf("dev-%d", s.rng.IntN(3))
		q := func() protocols.Quality {
			switch r := s.rng.IntN(20); {
			case r == 0:
				return protocols.Bad
			case r == 1:
				return protocols.Uncertain
			}
			return protocols.Good
		}
		samples := []protocols.Sample{
			{Point: "temperature", Value: math.Round(s.rng.NormFloat64()*1000) / 100, Unit: "degC", Quality: q()},
			{Point: "counter", Value: int64(s.rng.IntN(1_000_000)), Quality: q()},
			{Point: "line/speed", Value: s.rng.Float64() * 3, Unit: "m/s", Quality: q()},
			{Point: "running", Value: s.rng.IntN(2) == 0, Quality: protocols.Good},
			{Point: "mode", Value: "auto", Quality: protocols.Good},
		}
		if _, _, err := in.Ingest(dev, samples, s.clock); err != nil {
			t.Fatal(err)
		}
	}
}

var streamSizes = []time.Duration{time.Minute, 15 * time.Minute, time.Hour}

func TestRandomStreamMatchesRecomputation(t *testing.T) {
	e := newEnv(t, Config{})
	s := &stream{rng: mrand.New(mrand.NewPCG(1, 2)), clock: t0}
	a := e.aggregator(t, nil)
	for range 6 { // aggregate while the stream is being stored
		s.ingest(t, e.Ingester, time.Hour)
		catchUp(t, a)
	}
	got := emitted(t, e.Store)
	compare(t, got, recompute(t, e.Store, streamSizes, DefaultGrace))
	if len(got) < 300 {
		t.Fatalf("only %d windows: the stream does not exercise much", len(got))
	}
	st := a.Stats()
	if st.Lag != 0 || st.Replayed != 0 || st.Late != 0 || st.Emitted != uint64(len(got)) {
		t.Errorf("stats %+v, %d windows stored", st, len(got))
	}
	t.Logf("%d windows, stats %+v", len(got), st)
}

// TestRestartResumes restarts the aggregator three ways and requires every
// window exactly once (emitted() fails on a duplicate) with the values of
// an uninterrupted run: a clean restart from the saved state; a crash that
// lost the state saved after windows were stored (an old state file comes
// back); and a lost state file (full replay).
func TestRestartResumes(t *testing.T) {
	e := newEnv(t, Config{})
	s := &stream{rng: mrand.New(mrand.NewPCG(3, 4)), clock: t0}
	want := func() map[winKey]winStats { return recompute(t, e.Store, streamSizes, DefaultGrace) }

	a1 := e.aggregator(t, nil)
	s.ingest(t, e.Ingester, 2*time.Hour)
	catchUp(t, a1)
	if err := a1.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(e.state)
	if err != nil {
		t.Fatal(err)
	}
	s.ingest(t, e.Ingester, 2*time.Hour)
	catchUp(t, a1)
	if err := a1.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	emittedBefore := len(emitted(t, e.Store))

	// Clean restart.
	s.ingest(t, e.Ingester, time.Hour)
	a2 := e.aggregator(t, nil)
	catchUp(t, a2)
	if st := a2.Stats(); st.Replayed != 0 || st.Emitted == 0 {
		t.Errorf("clean restart: stats %+v, want new windows and no replay", st)
	}
	compare(t, emitted(t, e.Store), want())

	// Crash after storing windows but before saving the state.
	if err := os.WriteFile(e.state, old, 0o600); err != nil {
		t.Fatal(err)
	}
	s.ingest(t, e.Ingester, time.Hour)
	a3 := e.aggregator(t, nil)
	catchUp(t, a3)
	if st := a3.Stats(); st.Replayed < uint64(emittedBefore/3) || st.Emitted == 0 {
		t.Errorf("restart from an old state: stats %+v, want the stored windows found again (%d stored before)", st, emittedBefore)
	}
	compare(t, emitted(t, e.Store), want())

	// State file lost: full replay, nothing new to store.
	if err := a3.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	n := len(emitted(t, e.Store))
	if err := os.Remove(e.state); err != nil {
		t.Fatal(err)
	}
	a4 := e.aggregator(t, nil)
	catchUp(t, a4)
	if st := a4.Stats(); st.Emitted != 0 || st.Replayed != uint64(n) {
		t.Errorf("replay without state: stats %+v, want all %d windows found and none stored", st, n)
	}
	compare(t, emitted(t, e.Store), want())
}

// failingEmitter stores through the ingester but reports failure on one
// call, as if the appliance had crashed right after the durable write.
type failingEmitter struct {
	in     *ingest.Ingester
	calls  int
	failOn int
}

func (f *failingEmitter) Ingest(dev string, samples []protocols.Sample, at time.Time) (uint64, uint64, error) {
	first, last, err := f.in.Ingest(dev, samples, at)
	if f.calls++; f.calls == f.failOn {
		return 0, 0, errors.New("injected failure after the write")
	}
	return first, last, err
}

func TestEmitFailureRecovers(t *testing.T) {
	e := newEnv(t, Config{})
	s := &stream{rng: mrand.New(mrand.NewPCG(5, 6)), clock: t0}
	s.ingest(t, e.Ingester, 3*time.Hour)
	a := e.aggregator(t, &failingEmitter{in: e.Ingester, failOn: 20})
	if _, err := a.Step(context.Background()); err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("step error %v, want the injected failure", err)
	}
	catchUp(t, a)
	if a.Stats().Replayed == 0 {
		t.Errorf("stats %+v: the windows stored before the failure should be found again", a.Stats())
	}
	compare(t, emitted(t, e.Store), recompute(t, e.Store, streamSizes, DefaultGrace))
}

// TestWindowSizeAdded adds a window size between runs: windows of the new
// size that began before the restart are incomplete and not stored.
func TestWindowSizeAdded(t *testing.T) {
	e := newEnv(t, Config{Windows: []Duration{Duration(time.Minute)}})
	e.ingest(t, obs{"d", "p", sec(10), 1.0, protocols.Good}, obs{"d", "p", sec(70), 2.0, protocols.Good})
	a := e.aggregator(t, nil)
	catchUp(t, a)
	if err := a.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	e.cfg.Windows = append(e.cfg.Windows, Duration(5*time.Minute))
	// 100s falls in the 5m window [0,300), which began before the restart.
	e.ingest(t, obs{"d", "p", sec(100), 3.0, protocols.Good}, obs{"d", "p", sec(400), 4.0, protocols.Good}, obs{"d", "p", sec(700), 5.0, protocols.Good})
	a2 := e.aggregator(t, nil)
	catchUp(t, a2)
	got := emitted(t, e.Store)
	end := func(s int) int64 { return t0.Add(time.Duration(s) * time.Second).UnixNano() }
	if _, ok := got[winKey{"d", "p", 5 * time.Minute, end(300)}]; ok {
		t.Error("the 5m window [0,300) began before the size was configured but was stored")
	}
	if w, ok := got[winKey{"d", "p", 5 * time.Minute, end(600)}]; !ok || w.values[StatCount] != 1 {
		t.Errorf("5m window [300,600): %+v, %v", w, ok)
	}
	if a2.Stats().Partial != 1 {
		t.Errorf("partial windows %d, want 1", a2.Stats().Partial)
	}
}

func TestRunNotifyAndCheckpoint(t *testing.T) {
	e := newEnv(t, Config{Windows: []Duration{Duration(time.Minute)}})
	a, err := New(e.cfg, e.Store, e.Ingester, Options{StateFile: e.state, CheckpointInterval: time.Hour, PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	e.ingest(t, obs{"d", "p", sec(10), 1.0, protocols.Good}, obs{"d", "p", sec(70), 2.0, protocols.Good})
	last, _ := e.Store.NextSeq()
	a.Notify(last - 1) // the poll interval is an hour: only Notify wakes it
	deadline := time.Now().Add(10 * time.Second)
	for st := a.Stats(); st.Emitted != 1 || st.Lag != 0; st = a.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("not aggregated after Notify: %+v", a.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	data, err := os.ReadFile(e.state)
	if err != nil {
		t.Fatalf("no state saved at stop: %v", err)
	}
	var s snapshot
	if err := format.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	next, _ := e.Store.NextSeq()
	if s.Seq != next-1 || len(s.Points) != 1 {
		t.Errorf("saved state at seq %d with %d points; store next seq %d", s.Seq, len(s.Points), next)
	}
	if st := a.Stats(); st.Lag != 0 || st.OpenWindows != 1 || st.ProcessedSeq != next-1 {
		t.Errorf("stats %+v", st)
	}
}

func TestQuery(t *testing.T) {
	e := newEnv(t, Config{Windows: []Duration{Duration(time.Minute)}})
	for i := range 10 {
		e.ingest(t, obs{"d", "p", sec(float64(i*30 + 5)), float64(i), protocols.Good})
	}
	catchUp(t, e.aggregator(t, nil))
	ctx := context.Background()
	// Windows [0,60) .. [240,300) are closed; the range [60s, 240s] holds [60,120), [120,180), [180,240).
	ws, err := Query(ctx, e.Store, Request{Device: "d", Point: "p", Window: time.Minute, From: t0.Add(60 * time.Second), To: t0.Add(240 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	var starts []int
	for _, w := range ws {
		starts = append(starts, int(w.Start.Sub(t0)/time.Second))
		if w.End.Sub(w.Start) != time.Minute || w.Values[StatCount] != 2 || len(w.Seqs) != len(AllStats) || w.Unit != "u" || w.Quality != "good" {
			t.Errorf("window %+v", w)
		}
	}
	if !slices.Equal(starts, []int{60, 120, 180}) {
		t.Fatalf("window starts %v", starts)
	}
	// The seqs are the stored readings of the statistics.
	raw, err := e.Store.Reading(ws[0].Seqs[StatMean])
	if err != nil {
		t.Fatal(err)
	}
	r, _ := reading.Decode(raw)
	if r.DeviceID != "agg.d" || r.Point != "p/1m/mean" || *r.Float != ws[0].Values[StatMean] || *r.Float != 2.5 {
		t.Errorf("mean reading %+v", r)
	}
	if ws, _ := Query(ctx, e.Store, Request{Device: "d", Point: "p", Window: time.Minute, From: t0, To: t0.Add(time.Hour), Limit: 2}); len(ws) != 2 {
		t.Errorf("limit 2 gave %d windows", len(ws))
	}
	if ws, _ := Query(ctx, e.Store, Request{Device: "d", Point: "p", Window: 15 * time.Minute, From: t0, To: t0.Add(time.Hour)}); len(ws) != 0 {
		t.Errorf("unconfigured size gave %d windows", len(ws))
	}
	if _, err := Query(ctx, e.Store, Request{Device: "d", Point: "p", Window: time.Minute, From: t0.Add(time.Hour), To: t0}); err == nil {
		t.Error("inverted range accepted")
	}
}

// TestDeletedReadingsSkipped enables aggregation on a store whose oldest
// blocks were deleted (the disk budget's drop_oldest_unanchored): the
// aggregator must pass over them, store every window that began after the
// first remaining reading exactly as recomputed, and store none that could
// have held deleted readings.
func TestDeletedReadingsSkipped(t *testing.T) {
	e := newEnv(t, Config{}, pipelinetest.WithMaxReadings(300))
	s := &stream{rng: mrand.New(mrand.NewPCG(7, 8)), clock: t0}
	s.ingest(t, e.Ingester, 6*time.Hour)
	e.Seal(t)
	rec := e.DropOldest(t, retention.New(e.Store, retention.Policy{}, slog.New(slog.DiscardHandler)).DropOldest)
	raw, err := e.Store.Reading(rec.LastSeq + 1)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := reading.Decode(raw)

	a := e.aggregator(t, nil)
	catchUp(t, a)
	if st := a.Stats(); st.Skipped != rec.LastSeq || st.Partial == 0 || st.Lag != 0 {
		t.Errorf("stats %+v, want %d readings skipped, some partial windows, no lag", st, rec.LastSeq)
	}
	want := map[winKey]winStats{}
	for k, w := range recompute(t, e.Store, streamSizes, DefaultGrace) {
		if k.end-int64(k.size) >= after.ApplianceTime {
			want[k] = w
		}
	}
	if len(want) < 100 {
		t.Fatalf("only %d windows after the deleted block", len(want))
	}
	compare(t, emitted(t, e.Store), want)
}
