package license

import (
	"context"
	"crypto/hpke"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/block"
	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/keytree"
	"github.com/wotchain/wotchain/bridge/objstore"
	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/protocols"
)

const appID = pipelinetest.ApplianceID

// world is a chain whose blocks are sealed for the owner only, and a
// partner who can read a block only through a delivery.
type world struct {
	*pipelinetest.Chain
	partner hpke.PrivateKey
}

func newWorld(t *testing.T) *world {
	t.Helper()
	return &world{Chain: pipelinetest.New(t, pipelinetest.WithMaxReadings(4)), partner: pipelinetest.NewKey(t, keys.KEMX25519)}
}

// block ingests one poll of device at t, seals it as its own block and,
// when anchor is set, anchors it.
func (w *world) block(t *testing.T, device string, at time.Time, anchor bool) *store.BlockRecord {
	t.Helper()
	w.IngestPoll(t, device, at, protocols.Sample{Point: "a", Value: 1.0}, protocols.Sample{Point: "b", Value: 2.0},
		protocols.Sample{Point: "c", Value: 3.0}, protocols.Sample{Point: "d", Value: 4.0})
	recs := w.Seal(t)
	if len(recs) != 1 {
		t.Fatalf("seal: %d blocks", len(recs))
	}
	if anchor {
		w.Drain(t)
	}
	return recs[0]
}

func (w *world) delivered(t *testing.T, b *store.BlockRecord) bool {
	t.Helper()
	name := envelope.DeliveryName(keys.KeyID(w.partner.PublicKey()), b.BlockID)
	raw, err := w.Storage.Get(context.Background(), w.Storage.Location(name))
	if errors.Is(err, objstore.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	d, err := envelope.ParseDelivery(raw)
	if err != nil {
		t.Fatal(err)
	}
	obj, _ := w.Store.Object(b.Height)
	o, err := envelope.Parse(obj)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := o.OpenDelivered(d, w.partner)
	if err != nil {
		t.Fatalf("block %d: delivered key does not open it: %v", b.Height, err)
	}
	if _, err := block.ParseBody(plain); err != nil {
		t.Fatal(err)
	}
	return true
}

func TestDeliverCoveredAnchoredBlocksOnly(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	t0 := time.Unix(1_700_000_000, 0)
	b0 := w.block(t, "press-1", t0, true)                       // before the range
	b1 := w.block(t, "press-1", t0.Add(10*time.Second), true)   // in range
	b2 := w.block(t, "env-1", t0.Add(20*time.Second), true)     // in range, other device
	b3 := w.block(t, "press-1", t0.Add(30*time.Second), true)   // in range
	b4 := w.block(t, "press-1", t0.Add(40*time.Second), false)  // in range, not anchored yet
	b5 := w.block(t, "press-1", t0.Add(100*time.Second), false) // after the range

	g := rules.Grant{ID: "g", ApplianceID: appID, PartnerMSP: "PartnerMSP", PartnerKEM: keys.KEMX25519,
		PartnerKey: w.partner.PublicKey().Bytes(), Devices: []string{"press-1"},
		From: t0.Add(5 * time.Second).UnixNano(), To: t0.Add(50 * time.Second).UnixNano()}
	if _, _, err := w.Ledger.RecordGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	lic := New(w.Store, w.Ledger, w.Storage, w.Owner, appID, slog.New(slog.DiscardHandler))
	n, err := lic.Deliver(ctx)
	if err != nil || n != 2 {
		t.Fatalf("first delivery: %d keys, %v; want 2 (blocks 1 and 3)", n, err)
	}
	for _, c := range []struct {
		b    *store.BlockRecord
		want bool
	}{{b0, false}, {b1, true}, {b2, false}, {b3, true}, {b4, false}, {b5, false}} {
		if got := w.delivered(t, c.b); got != c.want {
			t.Errorf("block %d delivered = %v, want %v", c.b.Height, got, c.want)
		}
	}
	// The metrics' view: blocks from the unanchored b4 wait for a decision.
	if s := lic.Stats(); s != (Stats{Delivered: 2, Grants: 1, NextHeight: b4.Height}) {
		t.Fatalf("stats after the first pass: %+v", s)
	}
	// Examined blocks are not examined again; the unanchored one is, once anchored.
	if n, err := lic.Deliver(ctx); err != nil || n != 0 {
		t.Fatalf("second delivery: %d, %v", n, err)
	}
	w.Drain(t)
	if n, err := lic.Deliver(ctx); err != nil || n != 1 || !w.delivered(t, b4) || w.delivered(t, b5) {
		t.Fatalf("after anchoring: %d keys, %v", n, err)
	}
	if s := lic.Stats(); s != (Stats{Delivered: 3, Grants: 1, NextHeight: b5.Height + 1}) {
		t.Fatalf("stats after anchoring: %+v", s)
	}
}

func TestRevokedGrantStopsAtSealTime(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	t0 := time.Now()
	before := w.block(t, "press-1", t0, true)
	g := rules.Grant{ID: "g", ApplianceID: appID, PartnerMSP: "PartnerMSP", PartnerKEM: keys.KEMX25519,
		PartnerKey: w.partner.PublicKey().Bytes(), From: 0, To: t0.Add(time.Hour).UnixNano()}
	if _, _, err := w.Ledger.RecordGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Ledger.RevokeGrant(ctx, appID, "g"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // the next block is sealed strictly after the revocation
	after := w.block(t, "press-1", t0.Add(time.Second), true)
	lic := New(w.Store, w.Ledger, w.Storage, w.Owner, appID, slog.New(slog.DiscardHandler))
	if n, err := lic.Deliver(ctx); err != nil || n != 1 {
		t.Fatalf("delivery: %d, %v", n, err)
	}
	if !w.delivered(t, before) || w.delivered(t, after) {
		t.Fatal("a block sealed after the revocation got a key, or one sealed before did not")
	}
}

// TestDeliverV2FromStorageAfterPruning: retention prunes the local object
// and readings of anchored blocks; the licensor then reads the object from
// storage (checked against the block's hash), and a grant made later still
// gets exactly its polls.
func TestDeliverV2FromStorageAfterPruning(t *testing.T) {
	ctx := context.Background()
	c := pipelinetest.New(t, pipelinetest.WithFormat(2), pipelinetest.WithMaxReadings(100))
	partner := pipelinetest.NewKey(t, keys.KEMX25519)
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 6 {
		c.IngestPoll(t, []string{"press-1", "env-1"}[i%2], t0.Add(time.Duration(i)*time.Second),
			protocols.Sample{Point: "a", Value: float64(i)}, protocols.Sample{Point: "b", Value: 2.0})
	}
	recs := c.Seal(t)
	c.Drain(t)
	if len(recs) != 1 {
		t.Fatalf("%d blocks", len(recs))
	}
	if err := c.Store.PruneBlock(0, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Store.Object(0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("local object still there: %v", err)
	}
	g := rules.Grant{ID: "g", ApplianceID: appID, PartnerMSP: "PartnerMSP", PartnerKEM: keys.KEMX25519,
		PartnerKey: partner.PublicKey().Bytes(), Devices: []string{"press-1"},
		From: t0.Add(time.Second).UnixNano(), To: t0.Add(4 * time.Second).UnixNano()}
	if _, _, err := c.Ledger.RecordGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	lic := New(c.Store, c.Ledger, c.Storage, c.Owner, appID, slog.New(slog.DiscardHandler))
	if n, err := lic.Deliver(ctx); err != nil || n != 1 {
		t.Fatalf("delivered %d, %v", n, err)
	}
	raw, err := c.Storage.Get(ctx, c.Storage.Location(envelope.DeliveryNameV2(keys.KeyID(partner.PublicKey()), recs[0].BlockID, "g")))
	if err != nil {
		t.Fatal(err)
	}
	d, err := envelope.ParseDeliveryV2(raw)
	if err != nil {
		t.Fatal(err)
	}
	objRaw, err := c.Storage.Get(ctx, c.Block(t, 0).Location)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := envelope.ParseV2(objRaw)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := obj.OpenDeliveryV2(d, partner)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := keytree.ParseKeySet(ks)
	if err != nil {
		t.Fatal(err)
	}
	codec, err := envelope.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	opened, err := block.OpenV2Partial(obj, nodes, c.Public, codec)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, p := range opened.Polls {
		if p.Opened {
			got = append(got, p.Time-t0.UnixNano())
			if p.Record.DeviceID != "press-1" {
				t.Fatalf("opened a poll of %s", p.Record.DeviceID)
			}
		}
	}
	// press-1 polls at 0, 2, 4 s; the window [1 s, 4 s] holds 2 and 4.
	if want := []int64{int64(2 * time.Second), int64(4 * time.Second)}; !slices.Equal(got, want) {
		t.Fatalf("opened polls at %v, want %v", got, want)
	}
}
