package rulestest

import (
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"

	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// The revocation cut (KEYS-SPEC section 4): revoking a key ends its range
// at the first height the appliance had not anchored, so the blocks it
// stranded in the appliance's outbox can be re-sealed at the same heights
// under the key after it, and the chain moves on.

// resealed returns n headers linked from prev at heights from.., other
// blocks than linked's at those heights (as a re-seal makes them).
func resealed(t *testing.T, from uint64, prev []byte, n int) [][]byte {
	return linked(t, from, prev, n, func(uint64) hdrOpts { return hdrOpts{rootByte: 0xaa} })
}

// keyRange is what a test expects of one key entry.
type keyRange struct {
	id       string
	from, to uint64
	cut      bool
}

func checkRanges(t *testing.T, what string, a *rules.Appliance, want []keyRange) {
	t.Helper()
	if len(a.Keys) != len(want) {
		t.Fatalf("%s: %d keys %+v, want %d", what, len(a.Keys), a.Keys, len(want))
	}
	for i, w := range want {
		if k := a.Keys[i]; k.ID != w.id || k.FromHeight != w.from || k.ToHeight != w.to || k.Cut != w.cut {
			t.Errorf("%s: key %d is %s [%d,%d) cut=%v; want %s [%d,%d) cut=%v", what, i, k.ID, k.FromHeight, k.ToHeight, k.Cut, w.id, w.from, w.to, w.cut)
		}
	}
}

// refusedAsCut checks that sub (a block the revoked key sealed at or above
// its cut) is refused as revoked, naming the key and the cut height.
func (w *world) refusedAsCut(t *testing.T, sub format.Submission, keyID, height string) {
	t.Helper()
	w.refusedNothingChanged(t, rules.ErrKeyRevoked, "key "+keyID+" was revoked", func() error { _, _, err := w.record(anchor, sub); return err })
	_, _, err := w.record(anchor, sub)
	if want := "signs no block from height " + height; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}

// A rotated-out key revoked with a backlog: its unanchored heights pass to
// the current key, the re-sealed blocks anchor under it, the old blocks at
// those heights are refused.
func testRevokeCutsRotatedKey(t *testing.T, newLedger func(t *testing.T) Ledger) {
	w := newWorld(t, newLedger)
	hdrs := w.chain(t, 2, nil) // 0..1 anchored under key 1
	k1 := format.KeyID(w.pub)
	pub2, priv2 := newKey(t)
	k2 := format.KeyID(pub2)
	if _, err := w.rotate(admin, appID, pub2, 4); err != nil { // 2..3 sealed under key 1, in the outbox
		t.Fatal(err)
	}
	since := len(w.events())
	a, err := w.revoke(admin, appID, k1, w.clock, "key file copied")
	if err != nil {
		t.Fatal(err)
	}
	checkRanges(t, "after the revocation", a, []keyRange{{k1, 0, 2, true}, {k2, 2, 0, false}})
	if got := w.mustAppliance(t); !sameJSON(got, a) {
		t.Fatalf("GetAppliance after the cut: %+v", got)
	}
	var payload rules.Appliance
	if ev := w.l.Events()[since:]; len(ev) != 1 || json.Unmarshal(ev[0].Payload, &payload) != nil || !sameJSON(&payload, a) {
		t.Fatalf("revocation event: %v", w.events()[since:])
	}
	if k, ok := a.KeyForHeight(2); !ok || k.ID != k2 || a.Keys[0].Heights() != "0..1" {
		t.Fatalf("height 2 now signed by %s, %v; key 1 heights %s", k.ID, ok, a.Keys[0].Heights())
	}

	stranded := linked(t, 2, prevOf(hdrs[1]), 2, nil)
	w.refusedAsCut(t, signed(w.priv, stranded[0], 2, k1), k1, "2")
	w.refusedAsCut(t, signed(w.priv, stranded[0], 2, ""), k1, "2")
	// The key of block 1 is still key 1, and its retry gets its credential.
	if c, recorded, err := w.record(anchor, w.sub(hdrs[1], 1)); err != nil || recorded || c.KeyID != k1 {
		t.Fatalf("retry of block 1: %+v, %v, %v", c, recorded, err)
	}
	again := resealed(t, 2, prevOf(hdrs[1]), 3)
	out, err := w.recordBatch(anchor, []format.Submission{signed(priv2, again[0], 2, k2), signed(priv2, again[1], 3, k2), signed(priv2, again[2], 4, k2)})
	if err != nil {
		t.Fatalf("re-sealed blocks 2..4 under key 2: %v", err)
	}
	if out[0].Credential.KeyID != k2 {
		t.Fatalf("re-sealed block 2 recorded under key %s", out[0].Credential.KeyID)
	}

	// Revoking again with an earlier time moves the compromise, not the cut.
	a, err = w.revoke(admin, appID, k1, w.clock-100e9, "earlier")
	if err != nil {
		t.Fatal(err)
	}
	checkRanges(t, "revoked again", a, []keyRange{{k1, 0, 2, true}, {k2, 2, 0, false}})
}

// The current key revoked: no key signs from its first unanchored height
// until the next rotation, whose key starts there whatever height the
// appliance asks for (it sealed more blocks under the revoked key).
func testRevokeCutsCurrentKey(t *testing.T, newLedger func(t *testing.T) Ledger) {
	w := newWorld(t, newLedger)
	hdrs := w.chain(t, 3, nil) // 0..2 anchored
	k1 := format.KeyID(w.pub)
	a, err := w.revoke(admin, appID, k1, w.clock, "")
	if err != nil {
		t.Fatal(err)
	}
	checkRanges(t, "after the revocation", a, []keyRange{{k1, 0, 3, true}})
	if k, ok := a.KeyForHeight(3); ok {
		t.Fatalf("height 3 signed by %s after the cut", k.ID)
	}
	if k, ok := a.KeyForHeight(2); !ok || k.ID != k1 {
		t.Fatalf("height 2 signed by %s, %v", k.ID, ok)
	}
	stranded := linked(t, 3, prevOf(hdrs[2]), 2, nil)
	w.refusedAsCut(t, signed(w.priv, stranded[0], 3, k1), k1, "3")

	pub2, priv2 := newKey(t)
	k2 := format.KeyID(pub2)
	w.refusedNothingChanged(t, rules.ErrConflict, "block 2 is already anchored", func() error { _, err := w.rotate(admin, appID, pub2, 2); return err })
	a, err = w.rotate(admin, appID, pub2, 5) // the appliance sealed 3..4 under key 1
	if err != nil {
		t.Fatal(err)
	}
	checkRanges(t, "after the rotation", a, []keyRange{{k1, 0, 3, true}, {k2, 3, 0, false}})
	w.refusedAsCut(t, signed(w.priv, stranded[0], 3, ""), k1, "3")
	again := resealed(t, 3, prevOf(hdrs[2]), 1)
	if c, recorded, err := w.record(anchor, signed(priv2, again[0], 3, k2)); err != nil || !recorded || c.KeyID != k2 {
		t.Fatalf("re-sealed block 3 under key 2: %+v, %v, %v", c, recorded, err)
	}
}

// Revoking a key whose blocks are all anchored cuts nothing, nor does
// revoking a key that anchored nothing cut anything but its own range.
func testRevokeCutsNothingAnchored(t *testing.T, newLedger func(t *testing.T) Ledger) {
	w := newWorld(t, newLedger)
	hdrs := w.chain(t, 3, nil)
	k1 := format.KeyID(w.pub)
	pub2, priv2 := newKey(t)
	k2 := format.KeyID(pub2)
	if _, err := w.rotate(admin, appID, pub2, 3); err != nil {
		t.Fatal(err)
	}
	a, err := w.revoke(admin, appID, k1, w.clock, "")
	if err != nil {
		t.Fatal(err)
	}
	checkRanges(t, "nothing pending", a, []keyRange{{k1, 0, 3, false}, {k2, 3, 0, false}})
	next := linked(t, 3, prevOf(hdrs[2]), 1, nil)
	if _, _, err := w.record(anchor, signed(priv2, next[0], 3, k2)); err != nil {
		t.Fatalf("block 3 under key 2: %v", err)
	}

	// A new appliance's only key revoked before its first block.
	w = newWorld(t, newLedger)
	k1 = format.KeyID(w.pub)
	a, err = w.revoke(admin, appID, k1, w.clock, "")
	if err != nil {
		t.Fatal(err)
	}
	checkRanges(t, "no block", a, []keyRange{{k1, 0, 0, true}})
	if a.Keys[0].Heights() != "none" {
		t.Fatalf("key 1 heights %s", a.Keys[0].Heights())
	}
	w.refusedAsCut(t, w.sub(header(t, hdrOpts{height: 0}), 0), k1, "0")
}

// Three keys: the first revoked with a backlog, the second rotated out
// before any of its blocks was anchored. The heights from the cut go to
// the current key; the second keeps an empty range.
func testRevokeCutsAcrossKeys(t *testing.T, newLedger func(t *testing.T) Ledger) {
	w := newWorld(t, newLedger)
	hdrs := w.chain(t, 2, nil)
	k1 := format.KeyID(w.pub)
	keys := make([]ed25519.PrivateKey, 2)
	var ids []string
	for i, from := range []uint64{4, 6} {
		pub, priv := newKey(t)
		if _, err := w.rotate(admin, appID, pub, from); err != nil {
			t.Fatal(err)
		}
		keys[i], ids = priv, append(ids, format.KeyID(pub))
	}
	a, err := w.revoke(admin, appID, k1, w.clock, "")
	if err != nil {
		t.Fatal(err)
	}
	checkRanges(t, "after the revocation", a, []keyRange{{k1, 0, 2, true}, {ids[0], 2, 2, false}, {ids[1], 2, 0, false}})
	again := resealed(t, 2, prevOf(hdrs[1]), 1)
	w.refusedNothingChanged(t, rules.ErrBadSignature, "block 2", func() error { _, _, err := w.record(anchor, signed(keys[0], again[0], 2, "")); return err })
	if _, _, err := w.record(anchor, signed(keys[1], again[0], 2, ids[1])); err != nil {
		t.Fatalf("re-sealed block 2 under the current key: %v", err)
	}

	// The current key revoked while an older key's backlog is pending: the
	// current key anchored nothing and is cut to an empty range; the older
	// key's backlog stays anchorable.
	w = newWorld(t, newLedger)
	hdrs = w.chain(t, 2, nil)
	pub2, priv2 := newKey(t)
	k2 := format.KeyID(pub2)
	if _, err := w.rotate(admin, appID, pub2, 3); err != nil {
		t.Fatal(err)
	}
	a, err = w.revoke(admin, appID, k2, w.clock, "")
	if err != nil {
		t.Fatal(err)
	}
	k1 = format.KeyID(w.pub)
	checkRanges(t, "current key revoked above the backlog", a, []keyRange{{k1, 0, 3, false}, {k2, 3, 3, true}})
	next := linked(t, 2, prevOf(hdrs[1]), 2, nil)
	if _, _, err := w.record(anchor, w.sub(next[0], 2)); err != nil {
		t.Fatalf("backlog block 2 under key 1: %v", err)
	}
	w.refusedAsCut(t, signed(priv2, next[1], 3, k2), k2, "3")
}
