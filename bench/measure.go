package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Op performs one operation of a workload on behalf of worker w (0 ..
// Workers-1). It returns the readings and bytes the operation moved, for
// throughput figures.
type Op func(w int) (readings, bytes int, err error)

// Workload is one measured operation, run by Workers goroutines at once (the
// number of devices polling concurrently, or parallel signers). The same
// workload is driven by b.N under `go test -bench` (RunN) and by a duration
// under `wotchain bench` (RunFor), so both print the same figures.
type Workload struct {
	Name    string
	Workers int
	// Before, if set, runs before each operation outside the timing, for
	// example ingesting the readings that a seal operation then seals. It
	// needs Workers == 1.
	Before func() error
	Op     Op
	// Close releases what the workload holds (stores, connections).
	Close func()
}

// Timer is the part of *testing.B that RunN pauses while Before runs.
type Timer interface {
	StopTimer()
	StartTimer()
}

// Result is what a run measured.
type Result struct {
	Ops      int
	Readings int64
	Bytes    int64
	Elapsed  time.Duration
	lat      []time.Duration // per operation, sorted
}

// RunN runs exactly n operations spread over the workers. t, if not nil,
// is stopped while Before runs (pass the *testing.B).
func (w *Workload) RunN(n int, t Timer) (Result, error) {
	var left atomic.Int64
	left.Store(int64(n))
	return w.run(func() bool { return left.Add(-1) >= 0 }, n, t)
}

// RunFor runs operations until d has passed or ctx ends, and at least one.
func (w *Workload) RunFor(ctx context.Context, d time.Duration) (Result, error) {
	deadline := time.Now().Add(d)
	var first atomic.Bool
	return w.run(func() bool {
		return first.CompareAndSwap(false, true) || ctx.Err() == nil && time.Now().Before(deadline)
	}, 1024, nil)
}

func (w *Workload) run(more func() bool, sizeHint int, t Timer) (Result, error) {
	workers := max(w.Workers, 1)
	if w.Before != nil && workers != 1 {
		return Result{}, fmt.Errorf("%s: Before needs a single worker", w.Name)
	}
	var excluded time.Duration // time spent in Before
	type part struct {
		readings, bytes int64
		lat             []time.Duration
		err             error
	}
	parts := make([]part, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &parts[i]
			p.lat = make([]time.Duration, 0, min(sizeHint/workers+1, 1<<16))
			for more() {
				if w.Before != nil {
					t0 := time.Now()
					if t != nil {
						t.StopTimer()
					}
					err := w.Before()
					if t != nil {
						t.StartTimer()
					}
					excluded += time.Since(t0)
					if err != nil {
						p.err = err
						return
					}
				}
				t0 := time.Now()
				r, b, err := w.Op(i)
				p.lat = append(p.lat, time.Since(t0))
				if err != nil {
					p.err = err
					return
				}
				p.readings += int64(r)
				p.bytes += int64(b)
			}
		}()
	}
	wg.Wait()
	res := Result{Elapsed: time.Since(start) - excluded}
	var errs []error
	for _, p := range parts {
		res.Readings += p.readings
		res.Bytes += p.bytes
		res.lat = append(res.lat, p.lat...)
		errs = append(errs, p.err)
	}
	res.Ops = len(res.lat)
	slices.Sort(res.lat)
	return res, errors.Join(errs...)
}

// OpsPerSec, ReadingsPerSec and MBPerSec are throughput over the run.
func (r Result) OpsPerSec() float64      { return perSec(float64(r.Ops), r.Elapsed) }
func (r Result) ReadingsPerSec() float64 { return perSec(float64(r.Readings), r.Elapsed) }
func (r Result) MBPerSec() float64       { return perSec(float64(r.Bytes)/1e6, r.Elapsed) }

func perSec(v float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return v / d.Seconds()
}

// Percentile returns the latency of one operation at quantile q (0..1).
func (r Result) Percentile(q float64) time.Duration { return percentile(r.lat, q) }

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// Reporter is the part of *testing.B that results are reported through.
type Reporter interface {
	ReportMetric(n float64, unit string)
}

// ReportReadings reports readings/s and the p50/p99 latency of one
// operation, plus, when a baseline of the same run is given, the ratio of
// readings/s to the baseline's as "x-<name>".
func (r Result) ReportReadings(b Reporter, baselines map[string]Result) {
	r.reportRate(b, "readings/s", func(x Result) (float64, bool) { return x.ReadingsPerSec(), x.Readings > 0 }, baselines)
}

// ReportBlocks reports operations (blocks) per second, MB/s, p50/p99 per
// block, and the ratio of blocks/s to each baseline as "x-<name>".
func (r Result) ReportBlocks(b Reporter, baselines map[string]Result) {
	b.ReportMetric(r.MBPerSec(), "MB/s")
	r.reportRate(b, "blocks/s", func(x Result) (float64, bool) { return x.OpsPerSec(), x.Ops > 0 }, baselines)
}

// reportRate reports r's rate under unit, the p50/p99 latency of one
// operation, and the ratio of r's rate to that of each baseline that
// counted anything. rate gives a result's rate and whether it counted
// anything.
func (r Result) reportRate(b Reporter, unit string, rate func(Result) (float64, bool), baselines map[string]Result) {
	own, _ := rate(r)
	b.ReportMetric(own, unit)
	b.ReportMetric(float64(r.Percentile(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(r.Percentile(0.99).Microseconds())/1000, "p99-ms")
	for name, base := range baselines {
		if v, counted := rate(base); counted {
			b.ReportMetric(own/v, "x-"+name)
		}
	}
}

// Interleave runs base and subject alternately, one operation each, n
// times, so that both see the same machine (other processes, frequency,
// caches) and their ratio is not skewed by load that comes and goes. Both
// must have one worker and no Before.
func Interleave(base, subject *Workload, n int) (Result, Result, error) {
	if base.Workers > 1 || subject.Workers > 1 || base.Before != nil || subject.Before != nil {
		return Result{}, Result{}, fmt.Errorf("interleave %s with %s: single-worker workloads only", base.Name, subject.Name)
	}
	var rs [2]Result
	for i := range n {
		for k, w := range [2]*Workload{base, subject} {
			t0 := time.Now()
			readings, bytes, err := w.Op(0)
			d := time.Since(t0)
			if err != nil {
				return Result{}, Result{}, fmt.Errorf("%s op %d: %w", w.Name, i, err)
			}
			r := &rs[k]
			r.Ops++
			r.Readings += int64(readings)
			r.Bytes += int64(bytes)
			r.Elapsed += d
			r.lat = append(r.lat, d)
		}
	}
	for k := range rs {
		slices.Sort(rs[k].lat)
	}
	return rs[0], rs[1], nil
}
