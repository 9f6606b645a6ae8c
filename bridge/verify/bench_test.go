package verify

import (
	"context"
	"fmt"
	"testing"

	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/bridge/reading"
)

// BenchmarkVerifyFetchedV2 is `wotchain verify --fetched` of one reading
// (issue #18 budget: under 10 ms): a partner holding a v2 block of 1,000
// or 10,000 readings (three devices, polls of 10 readings) and the
// delivery of a grant of one device over part of the block checks one
// granted reading against the ledger: credential, header signature, object
// hash, key set, records and block root, the reading's poll, its path.
func BenchmarkVerifyFetchedV2(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("readings=%d", n), func(b *testing.B) {
			c := pipelinetest.New(b, pipelinetest.WithMaxReadings(n), pipelinetest.WithDevices("press-1", "boiler-1", "env-1"))
			useV2(b, c)
			sizes := make([]int, n/10)
			for i := range sizes {
				sizes[i] = 10
			}
			c.Anchor(b, sizes...)
			rec := c.Block(b, 0)
			if rec.LastSeq != uint64(n) {
				b.Fatalf("block 0 holds %d..%d", rec.FirstSeq, rec.LastSeq)
			}
			partner := pipelinetest.NewKey(b, keys.KEMX25519)
			// press-1's polls in the middle third of the block.
			d, granted := c.Grant(b, rec, "g", partner.PublicKey(), func(p *reading.PollRecord) bool {
				return p.DeviceID == "press-1" && p.FirstSeq > uint64(n/3) && p.LastSeq <= uint64(2*n/3)
			})
			seq := uint64(n/2) + 1
			for c.Readings[seq-1].Device != "press-1" {
				seq += 10
			}
			obj := storedObject(b, c, rec)
			ds := []*envelope.Delivery{d}
			v := &Verifier{Ledger: c.Ledger, Key: partner}
			if rep := v.Fetched(context.Background(), rec.BlockID, obj, ds, seq); !rep.OK() {
				b.Fatalf("%d polls granted; reading %d: %+v", granted, seq, rep.Checks)
			}
			b.ReportMetric(float64(len(obj)), "object-bytes")
			b.ResetTimer()
			for b.Loop() {
				if rep := v.Fetched(context.Background(), rec.BlockID, obj, ds, seq); !rep.OK() {
					b.Fatal(rep.Checks)
				}
			}
		})
	}
}
