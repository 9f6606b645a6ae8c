// Package benchtest runs bench workloads as go test benchmarks, for the
// benchmarks that sit beside the bridge packages they measure.
package benchtest

import (
	"testing"

	"github.com/wotchain/wotchain/bench"
)

// Report is Result.ReportReadings or Result.ReportBlocks.
type Report func(r bench.Result, b bench.Reporter, baselines map[string]bench.Result)

// Runner runs the workloads of one case as sub-benchmarks: the baselines
// first, then the subjects, which report their ratio to each baseline
// measured in the same run.
type Runner struct {
	b         *testing.B
	report    Report
	baselines map[string]bench.Result
}

// NewRunner returns a Runner for the case benchmark b.
func NewRunner(b *testing.B, report Report) *Runner {
	return &Runner{b: b, report: report, baselines: map[string]bench.Result{}}
}

// Run measures the workload that build returns as sub-benchmark name. A
// baseline is kept for the ratios of later runs; any other workload reports
// its ratio to the baselines run before it.
func (r *Runner) Run(name string, build func() (*bench.Workload, error), baseline bool) {
	r.b.Run(name, func(b *testing.B) {
		w, err := build()
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		b.ResetTimer()
		res, err := w.RunN(b.N, b)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if baseline {
			r.report(res, b, nil)
			r.baselines[name] = res
			return
		}
		r.report(res, b, r.baselines)
	})
}
