package ingest_test

import (
	"testing"

	"github.com/wotchain/wotchain/bench"
)

// BenchmarkIngest measures normalise + sign + durable write per poll, at 1,
// 100 and 10,000 points per poll, with one device and with several devices
// polling at once (group commit), against two baselines measured in the
// same run: bare grocksdb synced WriteBatches of the same bytes, and bare
// Ed25519 signing of the same poll statements. The ingest line reports
// readings/s, p50/p99 latency from poll result to durable, and its ratio to
// each baseline (x-raw-write, x-raw-sign).
//
//	go test -run '^$' -bench Ingest -benchtime 3s ./bridge/ingest/
func BenchmarkIngest(b *testing.B) {
	for _, c := range bench.IngestCases() {
		b.Run(c.String(), func(b *testing.B) {
			c.Dir = b.TempDir()
			baselines := map[string]bench.Result{}
			run := func(name string, make func() (*bench.Workload, error), compare bool) {
				b.Run(name, func(b *testing.B) {
					w, err := make()
					if err != nil {
						b.Fatal(err)
					}
					defer w.Close()
					b.ResetTimer()
					r, err := w.RunN(b.N, b)
					b.StopTimer()
					if err != nil {
						b.Fatal(err)
					}
					if compare {
						r.ReportReadings(b, baselines)
					} else {
						r.ReportReadings(b, nil)
						baselines[name] = r
					}
				})
			}
			run("raw-sign", c.RawSign, false)
			run("raw-write", c.RawWrite, false)
			run("ingest", c.Ingest, true)
		})
	}
}
