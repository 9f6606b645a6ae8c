package ingest_test

import (
	"testing"

	"github.com/wotchain/wotchain/bench"
	"github.com/wotchain/wotchain/bench/benchtest"
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
			r := benchtest.NewRunner(b, bench.Result.ReportReadings)
			r.Run("raw-sign", c.RawSign, true)
			r.Run("raw-write", c.RawWrite, true)
			r.Run("ingest", c.Ingest, false)
		})
	}
}
