package seal_test

import (
	"context"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bench"
	"github.com/wotchain/wotchain/bench/benchtest"
	"github.com/wotchain/wotchain/bridge/objstore"
	"github.com/wotchain/wotchain/internal/testserver"
)

// BenchmarkSealUpload measures seal + encrypt + upload per block against
// the filesystem and an S3-compatible server (MinIO, started by
// internal/testserver; skipped when it cannot be built), with the raw
// copy/put of the same object bytes as the baseline measured in the same
// run (x-raw-put is the ratio of blocks/s).
//
//	go test -run '^$' -bench SealUpload -benchtime 200x ./bridge/seal/
func BenchmarkSealUpload(b *testing.B) {
	b.Run("fs", func(b *testing.B) { benchmarkSealUpload(b, "fs", nil) })
	b.Run("s3", func(b *testing.B) {
		m := testserver.StartMinIO(b)
		s3 := &objstore.S3Config{Endpoint: m.Endpoint, Bucket: "bench", AccessKey: m.AccessKey, SecretKey: m.SecretKey}
		if err := bench.WaitS3(context.Background(), *s3, 30*time.Second); err != nil {
			b.Fatal(err)
		}
		benchmarkSealUpload(b, "s3", s3)
	})
}

func benchmarkSealUpload(b *testing.B, storage string, s3 *objstore.S3Config) {
	for _, c := range bench.SealCases() {
		if c.Storage != storage {
			continue
		}
		c.S3 = s3
		b.Run(c.String(), func(b *testing.B) {
			c.Dir = b.TempDir()
			r := benchtest.NewRunner(b, bench.Result.ReportBlocks)
			r.Run("raw-put", func() (*bench.Workload, error) { return c.RawPut(context.Background()) }, true)
			r.Run("seal-upload", func() (*bench.Workload, error) { return c.SealUpload(context.Background()) }, false)
		})
	}
}
