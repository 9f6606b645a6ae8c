package bench

import (
	"maps"
	"testing"
	"time"
)

type reported map[string]float64

func (m reported) ReportMetric(n float64, unit string) { m[unit] = n }

// The reports give the rate, the latencies and a ratio to each baseline
// that counted anything; a baseline that counted nothing gives no ratio.
func TestReportRatios(t *testing.T) {
	r := Result{Ops: 4, Readings: 400, Bytes: 2e6, Elapsed: 2 * time.Second,
		lat: []time.Duration{time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond, 4 * time.Millisecond}}
	baselines := map[string]Result{
		"fast":  {Ops: 16, Readings: 800, Elapsed: 2 * time.Second},
		"empty": {Elapsed: time.Second},
	}

	got := reported{}
	r.ReportReadings(got, baselines)
	want := reported{"readings/s": 200, "p50-ms": 2, "p99-ms": 4, "x-fast": 0.5}
	if !maps.Equal(got, want) {
		t.Errorf("ReportReadings: %v, want %v", got, want)
	}

	got = reported{}
	r.ReportBlocks(got, baselines)
	want = reported{"blocks/s": 2, "MB/s": 1, "p50-ms": 2, "p99-ms": 4, "x-fast": 0.25}
	if !maps.Equal(got, want) {
		t.Errorf("ReportBlocks: %v, want %v", got, want)
	}
}
