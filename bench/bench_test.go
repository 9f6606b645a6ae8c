package bench

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/protocols/modbus"
)

// TestRunQuick runs every stage in quick mode (a few seconds): each must
// produce its rows without an error. It checks that the benchmarks work,
// not how fast anything is.
func TestRunQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole bridge for a few seconds")
	}
	var out bytes.Buffer
	opts := Options{Dir: t.TempDir(), Quick: true, Stages: Stages}
	if err := Run(context.Background(), opts, &out); err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	table := out.String()
	for _, stage := range []string{"memory", "ingest", "seal+encrypt+upload", "ledger", "modbus", "end to end"} {
		if !strings.Contains(table, "| "+stage+" ") && !strings.Contains(table, " "+stage+" ") {
			t.Errorf("no %s row in\n%s", stage, table)
		}
	}
	if strings.Contains(table, "failed") {
		t.Errorf("a stage failed:\n%s", table)
	}
}

// TestExamplePlantLayoutMatchesConfig keeps the bench's copy of the example
// plant's Modbus device equal to configs/example-plant.yaml.
func TestExamplePlantLayoutMatchesConfig(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	cfg, err := config.LoadView(filepath.Join(filepath.Dir(file), "..", "configs", "example-plant.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range cfg.Devices {
		m, ok := d.Settings.(*modbus.Config)
		if !ok {
			continue
		}
		want := ExamplePlantLayout().Points
		if len(m.Points) != len(want) {
			t.Fatalf("example-plant.yaml device %s has %d points, the bench %d", d.ID, len(m.Points), len(want))
		}
		for i, p := range m.Points {
			w := want[i]
			same := p.Name == w.Name && p.Register == w.Register && p.Address == w.Address && p.Type == w.Type &&
				p.Length == w.Length && (p.Bit == nil) == (w.Bit == nil) && (p.Bit == nil || *p.Bit == *w.Bit) &&
				(p.Order == w.Order || p.Order == "" && w.Order == "ABCD" || w.Order == "" && p.Order == "ABCD")
			if !same {
				t.Errorf("point %d: config %+v, bench %+v", i, p, w)
			}
		}
		return
	}
	t.Fatal("no Modbus device in configs/example-plant.yaml")
}

// TestPercentileAndSlope checks percentile and slope against values worked
// out by hand and against references computed another way: percentile by
// counting (the smallest value with at least round(q·n) values at or
// below it), slope by the centred least-squares formula.
func TestPercentileAndSlope(t *testing.T) {
	ms := func(vs ...int) []time.Duration {
		out := make([]time.Duration, len(vs))
		for i, v := range vs {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	for _, c := range []struct {
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{d, 0.5, 50},
		{d, 0.99, 99},
		{d, 0.01, 1},
		{d, 1, 100},
		{nil, 0.5, 0},
		{ms(7), 0.5, 7 * time.Millisecond},
		{ms(7), 0.99, 7 * time.Millisecond},
		{ms(10, 20, 30, 40), 0, 10 * time.Millisecond},    // rank 0 is clamped to the first
		{ms(10, 20, 30, 40), 0.1, 10 * time.Millisecond},  // 0.4 rounds to rank 0
		{ms(10, 20, 30, 40), 0.25, 10 * time.Millisecond}, // rank 1
		{ms(10, 20, 30, 40), 0.5, 20 * time.Millisecond},  // rank 2
		{ms(10, 20, 30, 40), 0.6, 20 * time.Millisecond},  // 2.4 rounds to rank 2
		{ms(10, 20, 30, 40), 0.7, 30 * time.Millisecond},  // 2.8 rounds to rank 3
		{ms(10, 20, 30, 40), 0.99, 40 * time.Millisecond}, // 3.96 rounds to rank 4
		{ms(5, 7, 9), 0.5, 7 * time.Millisecond},          // 1.5 rounds up to rank 2
		{ms(1, 1, 2, 2, 2, 9), 0.5, 2 * time.Millisecond},
		{ms(1, 1, 2, 2, 2, 9), 0.99, 9 * time.Millisecond},
	} {
		if got := percentile(c.sorted, c.q); got != c.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", c.sorted, c.q, got, c.want)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		n := 1 + rng.IntN(50)
		vals := make([]time.Duration, n)
		for i := range vals {
			vals[i] = time.Duration(rng.IntN(20)) // duplicates on purpose
		}
		sorted := slices.Sorted(slices.Values(vals))
		for _, q := range []float64{0, 0.01, 0.25, 0.5, 0.9, 0.99, 1} {
			if got, want := percentile(sorted, q), percentileByCounting(vals, q); got != want {
				t.Fatalf("percentile(%v, %v) = %v, counting gives %v", sorted, q, got, want)
			}
		}
	}

	for _, c := range []struct {
		xs, ys []float64
		want   float64
	}{
		{[]float64{0, 1, 2, 3}, []float64{5, 7, 9, 11}, 2},
		{[]float64{1, 2, 3, 4, 5}, []float64{2, 4, 5, 4, 5}, 0.6}, // Σdxdy 6 / Σdx² 10
		{[]float64{0.5, 2, 7}, []float64{-1, -4, -14}, -2},
		{[]float64{3}, []float64{9}, 0},             // one point
		{nil, nil, 0},                               // none
		{[]float64{2, 2, 2}, []float64{1, 5, 9}, 0}, // vertical: no slope
	} {
		if got := slope(c.xs, c.ys); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("slope(%v, %v) = %v, want %v", c.xs, c.ys, got, c.want)
		}
	}
	for range 200 {
		n := 2 + rng.IntN(30)
		xs, ys := make([]float64, n), make([]float64, n)
		for i := range xs {
			xs[i] = float64(i) + rng.Float64()
			ys[i] = 1e6 + 3e5*xs[i] + 1e5*rng.NormFloat64()
		}
		got, want := slope(xs, ys), centredSlope(xs, ys)
		if math.Abs(got-want) > 1e-6*math.Abs(want)+1e-6 {
			t.Fatalf("slope(%v, %v) = %v, the centred formula gives %v", xs, ys, got, want)
		}
	}

	flat := LoadResult{FirstPeak: 100 << 20, LastPeak: 105 << 20, SlopePerMin: 0.2 * (1 << 20)}
	growing := LoadResult{FirstPeak: 100 << 20, LastPeak: 130 << 20, SlopePerMin: 3 << 20}
	if !flat.Flat() || growing.Flat() {
		t.Errorf("Flat: %v for flat, %v for growing", flat.Flat(), growing.Flat())
	}
}

// percentileByCounting is the value at rank round(q·n) (ranks 1..n, the
// rank clamped to them) of vals in any order, found by counting.
func percentileByCounting(vals []time.Duration, q float64) time.Duration {
	rank := min(max(int(math.Round(q*float64(len(vals)))), 1), len(vals))
	var best time.Duration
	found := false
	for _, v := range vals {
		atOrBelow := 0
		for _, w := range vals {
			if w <= v {
				atOrBelow++
			}
		}
		if atOrBelow >= rank && (!found || v < best) {
			best, found = v, true
		}
	}
	return best
}

// centredSlope is the least-squares slope as Σ(x-x̄)(y-ȳ) / Σ(x-x̄)².
func centredSlope(xs, ys []float64) float64 {
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx /= float64(len(xs))
	my /= float64(len(ys))
	var num, den float64
	for i := range xs {
		num += (xs[i] - mx) * (ys[i] - my)
		den += (xs[i] - mx) * (xs[i] - mx)
	}
	return num / den
}
