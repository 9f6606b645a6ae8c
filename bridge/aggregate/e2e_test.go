package aggregate

import (
	"context"
	"crypto/hpke"
	"log/slog"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/ledger"
	"github.com/wotchain/wotchain/bridge/objstore"
	"github.com/wotchain/wotchain/bridge/outbox"
	"github.com/wotchain/wotchain/bridge/seal"
	"github.com/wotchain/wotchain/bridge/verify"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/protocols"
)

// TestAggregateVerifies seals and anchors readings and their aggregates
// on the embedded ledger, then proves every aggregate of a window with the
// same verifier as any reading (bridge/verify's own tests show tampering
// fails it).
func TestAggregateVerifies(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, Config{Windows: []Duration{Duration(time.Minute)}})
	e.ingest(t, obs{"boiler-1", "temperature", sec(5), 20.0, protocols.Good}, obs{"boiler-1", "temperature", sec(35), 22.0, protocols.Good},
		obs{"boiler-1", "temperature", sec(65), 21.0, protocols.Good})
	catchUp(t, e.aggregator(t, nil))
	ws, err := Query(ctx, e.st, Request{Device: "boiler-1", Point: "temperature", Window: time.Minute, From: t0, To: t0.Add(time.Hour)})
	if err != nil || len(ws) != 1 || ws[0].Values[StatMean] != 21 {
		t.Fatalf("windows %+v, %v", ws, err)
	}

	discard := slog.New(slog.DiscardHandler)
	led := ledger.NewEmbedded(e.st.Ledger(), "appliance", discard)
	id := led.Identity()
	if err := led.RegisterAppliance(ctx, rules.Appliance{ID: appID, PublicKey: e.pub, AnchorMSP: id.MSPID, AnchorID: id.ID}); err != nil {
		t.Fatal(err)
	}
	fs, err := objstore.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	kem, err := hpke.NewKEM(keys.KEMX25519)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := kem.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	sl, err := seal.New(e.st, appID, e.priv, []hpke.PublicKey{owner.PublicKey()}, 4)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sl.Seal(true); err != nil {
		t.Fatal(err)
	}
	ob := outbox.New(e.st, fs, led, discard)
	for i := 0; ; i++ {
		busy, err := ob.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !busy {
			break
		}
		if i > 100 {
			t.Fatal("outbox does not drain")
		}
	}
	v := &verify.Verifier{Store: e.st, Ledger: led, Storage: fs, Key: owner}
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
