package aggregate

import (
	"context"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/bridge/verify"
	"github.com/wotchain/wotchain/protocols"
)

// TestAggregateVerifies seals and anchors readings and their aggregates
// on the embedded ledger, then proves every aggregate of a window with the
// same verifier as any reading (bridge/verify's own tests show tampering
// fails it).
func TestAggregateVerifies(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, Config{Windows: []Duration{Duration(time.Minute)}}, pipelinetest.WithMaxReadings(4))
	e.ingest(t, obs{"boiler-1", "temperature", sec(5), 20.0, protocols.Good}, obs{"boiler-1", "temperature", sec(35), 22.0, protocols.Good},
		obs{"boiler-1", "temperature", sec(65), 21.0, protocols.Good})
	catchUp(t, e.aggregator(t, nil))
	ws, err := Query(ctx, e.Store, Request{Device: "boiler-1", Point: "temperature", Window: time.Minute, From: t0, To: t0.Add(time.Hour)})
	if err != nil || len(ws) != 1 || ws[0].Values[StatMean] != 21 {
		t.Fatalf("windows %+v, %v", ws, err)
	}

	e.Seal(t)
	e.Drain(t)
	v := &verify.Verifier{Store: e.Store, Ledger: e.Ledger, Storage: e.Storage, Key: e.Owner}
	for _, stat := range AllStats {
		seq := ws[0].Seqs[stat]
		rep := v.Reading(ctx, seq)
		if !rep.OK() {
			t.Fatalf("aggregate %s (seq %d) does not verify: %+v", stat, seq, rep.Checks)
		}
		if rep.Reading.DeviceID != "agg.boiler-1" || rep.Reading.Point != "temperature/1m/"+stat {
			t.Fatalf("verified reading %+v", rep.Reading)
		}
	}
}
