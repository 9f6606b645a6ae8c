package ledger_test

import (
	"context"
	"testing"

	"github.com/wotchain/wotchain/bench"
)

// BenchmarkLedgerCost anchors sealed blocks on the embedded ledger and
// reports the ledger state and block bytes per million readings, against
// the naive design that writes every reading on chain (x-smaller-state,
// x-smaller-blocks: how many times smaller ours is; target >= 1000). The
// figure depends on readings per block (seal.max_readings), hence one case
// per block size. ns/op is one anchoring transaction; sealing is not timed.
//
//	go test -run '^$' -bench LedgerCost -benchtime 20x ./bridge/ledger/
func BenchmarkLedgerCost(b *testing.B) {
	for _, c := range bench.LedgerCases() {
		b.Run(c.String(), func(b *testing.B) {
			c.Dir = b.TempDir()
			w, run, err := c.Anchor(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			b.ResetTimer()
			if _, err := w.RunN(b.N, b); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			cost, err := run.Cost()
			if err != nil {
				b.Fatal(err)
			}
			cost.Report(b)
		})
	}
}
