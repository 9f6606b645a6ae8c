package rulestest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// Key history (issue #14): every key an appliance has had, each valid for a
// contiguous range of block heights, rotated and revoked by the
// manufacturer's admins.

// signed is a submission of hb signed by priv, naming keyID ("" names none).
func signed(priv ed25519.PrivateKey, hb []byte, i int, keyID string) format.Submission {
	return format.Submission{Header: hb, HeaderSig: format.SignHeader(priv, hb), ObjectHash: objHash(i), Location: "fs:" + objHash(i), KeyID: keyID}
}

func newKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

// mustAppliance reads the appliance of the world.
func (w *world) mustAppliance(t *testing.T) *rules.Appliance {
	t.Helper()
	a, err := w.appliance(appID)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// refusedNothingChanged runs fn, which must fail with want (and say msg),
// and checks that the state and the events did not change.
func (w *world) refusedNothingChanged(t *testing.T, want error, msg string, fn func() error) {
	t.Helper()
	before := w.snapshot()
	events := len(w.events())
	err := fn()
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want %v", err, want)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Fatalf("error %q does not say %q", err, msg)
	}
	if !w.changedNothing(before, events) {
		t.Fatal("a refused transaction changed the state")
	}
}

func testRegisterKeepsKeyHistory(t *testing.T, newLedger func(t *testing.T) Ledger) {
	w := newWorld(t, newLedger)
	registeredAt := w.clock
	a := w.mustAppliance(t)
	want := rules.ApplianceKey{ID: format.KeyID(w.pub), PublicKey: w.pub, RegisteredAt: registeredAt}
	if len(a.Keys) != 1 || !sameJSON(a.Keys[0], want) || a.Current().ID != want.ID {
		t.Fatalf("keys of a new appliance: %+v, want [%+v]", a.Keys, want)
	}

	// The same key again: a new anchoring identity, the history kept.
	rereg := rules.Appliance{ID: appID, PublicKey: w.pub, AnchorMSP: anchor.MSPID, AnchorID: "anchor-2", OwnerMSP: "OwnerMSP"}
	if err := w.register(admin, rereg); err != nil {
		t.Fatal(err)
	}
	a = w.mustAppliance(t)
	if a.AnchorID != "anchor-2" || len(a.Keys) != 1 || a.Keys[0].RegisteredAt != registeredAt {
		t.Fatalf("re-registered with the same key: %+v", a)
	}

	// Another key: refused, it would orphan every earlier block.
	other, _ := newKey(t)
	rereg.PublicKey = other
	w.refusedNothingChanged(t, rules.ErrConflict, "RotateApplianceKey", func() error { return w.register(admin, rereg) })
	if !strings.Contains(w.registerErr(rereg), want.ID) {
		t.Fatalf("the refusal does not name the current key %s: %s", want.ID, w.registerErr(rereg))
	}

	// A history handed in by the caller is not taken.
	forged := rules.Appliance{ID: appID, PublicKey: w.pub, AnchorMSP: anchor.MSPID, AnchorID: "anchor-2", OwnerMSP: "OwnerMSP",
		Keys: []rules.ApplianceKey{{ID: "0000000000000000", PublicKey: other}, {ID: want.ID, PublicKey: w.pub, FromHeight: 5}}}
	if err := w.register(admin, forged); err != nil {
		t.Fatal(err)
	}
	if a := w.mustAppliance(t); len(a.Keys) != 1 || !sameJSON(a.Keys[0], want) {
		t.Fatalf("registration took the caller's key history: %+v", a.Keys)
	}
}

func (w *world) registerErr(a rules.Appliance) string {
	if err := w.register(admin, a); err != nil {
		return err.Error()
	}
	return ""
}

// A record written before key history (a public key, no keys) reads as one
// key valid from height 0, and anchoring and rotation work on it.
func testOldFormatApplianceRecord(t *testing.T, newLedger func(t *testing.T) Ledger) {
	pub, priv := newKey(t)
	w := &world{l: newLedger(t), pub: pub, priv: priv}
	old, _ := json.Marshal(map[string]any{"id": appID, "publicKey": []byte(pub), "anchorMsp": anchor.MSPID, "anchorId": anchor.ID, "ownerMsp": "OwnerMSP"})
	key, _ := rules.CompositeKey("appliance", appID)
	w.put(t, key, old)

	a := w.mustAppliance(t)
	if len(a.Keys) != 1 || a.Keys[0].ID != format.KeyID(pub) || !bytes.Equal(a.Keys[0].PublicKey, pub) || a.Keys[0].FromHeight != 0 || a.Keys[0].ToHeight != 0 {
		t.Fatalf("old record read as %+v", a)
	}
	hdrs := w.chain(t, 1, nil)
	if c, err := w.credential(format.BlockID(hdrs[0])); err != nil || c.KeyID != format.KeyID(pub) {
		t.Fatalf("block 0 under the old record: %+v, %v", c, err)
	}
	// Re-registering with the same key keeps it; rotating appends.
	if err := w.register(admin, rules.Appliance{ID: appID, PublicKey: pub, AnchorMSP: anchor.MSPID, AnchorID: anchor.ID}); err != nil {
		t.Fatal(err)
	}
	pub2, _ := newKey(t)
	a, err := w.rotate(admin, appID, pub2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Keys) != 2 || a.Keys[0].ToHeight != 1 || a.Keys[1].FromHeight != 1 {
		t.Fatalf("rotation of an old record: %+v", a.Keys)
	}

	// A record whose public key is not its current key is corrupt.
	bad, _ := json.Marshal(map[string]any{"id": appID, "publicKey": []byte(pub), "anchorMsp": anchor.MSPID, "anchorId": anchor.ID,
		"keys": []rules.ApplianceKey{{ID: format.KeyID(pub2), PublicKey: pub2}}})
	w.put(t, key, bad)
	if _, err := w.appliance(appID); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("inconsistent record: %v", err)
	}
}

func testRotateApplianceKey(t *testing.T, newLedger func(t *testing.T) Ledger) {
	w := newWorld(t, newLedger)
	w.chain(t, 3, nil) // heights 0..2 anchored under key 1
	k1 := format.KeyID(w.pub)
	pub2, _ := newKey(t)
	for _, c := range []struct {
		name   string
		caller rules.Caller
		app    string
		pub    []byte
		from   uint64
		want   error
		msg    string
	}{
		{"anchoring identity", anchor, appID, pub2, 3, rules.ErrForbidden, "not an admin"},
		{"owner admin", ownerAdmin, appID, pub2, 3, rules.ErrForbidden, "not an admin"},
		{"short key", admin, appID, pub2[:31], 3, rules.ErrInvalid, "31 bytes"},
		{"unknown appliance", admin, "app-9", pub2, 3, rules.ErrUnknownAppliance, "app-9"},
		{"the current key", admin, appID, w.pub, 3, rules.ErrConflict, k1},
		{"height already anchored", admin, appID, pub2, 2, rules.ErrConflict, "block 2 is already anchored under key " + k1},
		{"height 0 anchored", admin, appID, pub2, 0, rules.ErrConflict, "block 0 is already anchored"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w.refusedNothingChanged(t, c.want, c.msg, func() error { _, err := w.rotate(c.caller, c.app, c.pub, c.from); return err })
		})
	}

	since := len(w.events())
	a, err := w.rotate(admin, appID, pub2, 5) // blocks 3 and 4 still to come under key 1
	if err != nil {
		t.Fatal(err)
	}
	rotatedAt := w.clock
	k2 := format.KeyID(pub2)
	if len(a.Keys) != 2 || !bytes.Equal(a.PublicKey, pub2) || a.Current().ID != k2 {
		t.Fatalf("rotated: %+v", a)
	}
	if o := a.Keys[0]; o.ID != k1 || o.FromHeight != 0 || o.ToHeight != 5 || o.RotatedAt != rotatedAt || o.RevokedAt != 0 {
		t.Fatalf("old key after rotation: %+v", o)
	}
	if n := a.Keys[1]; n.ID != k2 || n.FromHeight != 5 || n.ToHeight != 0 || n.RegisteredAt != rotatedAt || n.RotatedAt != 0 {
		t.Fatalf("new key after rotation: %+v", n)
	}
	if got := w.mustAppliance(t); !sameJSON(got, a) {
		t.Fatalf("GetAppliance after rotation: %+v, rotation returned %+v", got, a)
	}
	events := w.l.Events()[since:]
	var payload rules.Appliance
	if len(events) != 1 || events[0].Name != rules.EventApplianceKeyRotated || json.Unmarshal(events[0].Payload, &payload) != nil || !sameJSON(&payload, a) {
		t.Fatalf("events after rotation: %v", w.events()[since:])
	}
	for h, want := range map[uint64]string{0: k1, 4: k1, 5: k2, 1 << 40: k2} {
		if k, ok := a.KeyForHeight(h); !ok || k.ID != want {
			t.Errorf("KeyForHeight(%d) = %s, %v; want %s", h, k.ID, ok, want)
		}
	}

	// Back to key 1, or below where key 2 starts: refused.
	w.refusedNothingChanged(t, rules.ErrConflict, k1, func() error { _, err := w.rotate(admin, appID, w.pub, 9); return err })
	pub3, _ := newKey(t)
	w.refusedNothingChanged(t, rules.ErrInvalid, "below height 5", func() error { _, err := w.rotate(admin, appID, pub3, 4); return err })
	// Rotating again from the same height leaves key 2 an empty range.
	a, err = w.rotate(admin, appID, pub3, 5)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := a.KeyForHeight(5); !ok || k.ID != format.KeyID(pub3) || a.Keys[1].ToHeight != 5 {
		t.Fatalf("second rotation from height 5: %+v", a.Keys)
	}
}

// A key rotated out at height 0, before it signed anything, signs nothing:
// its ToHeight 0 does not read as "open".
func testRotateBeforeFirstBlock(t *testing.T, newLedger func(t *testing.T) Ledger) {
	w := newWorld(t, newLedger)
	pub2, priv2 := newKey(t)
	a, err := w.rotate(admin, appID, pub2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Keys[0].Heights() != "none" {
		t.Fatalf("first key covers %s", a.Keys[0].Heights())
	}
	for _, h := range []uint64{0, 7} {
		if k, ok := a.KeyForHeight(h); !ok || k.ID != format.KeyID(pub2) {
			t.Fatalf("KeyForHeight(%d) = %s, %v", h, k.ID, ok)
		}
	}
	hb := header(t, hdrOpts{height: 0})
	w.refusedNothingChanged(t, rules.ErrBadSignature, "block 0", func() error { _, _, err := w.record(anchor, w.sub(hb, 0)); return err })
	if _, _, err := w.record(anchor, signed(priv2, hb, 0, "")); err != nil {
		t.Fatal(err)
	}
}

// Blocks below the rotation height are signed by the old key (the backlog
// the appliance sealed before it switched), from it on by the new one; a
// block under the wrong key, or naming the wrong key, is refused.
func testAnchoringAcrossRotation(t *testing.T, newLedger func(t *testing.T) Ledger) {
	w := newWorld(t, newLedger)
	hdrs := w.chain(t, 2, nil)
	k1 := format.KeyID(w.pub)
	pub2, priv2 := newKey(t)
	k2 := format.KeyID(pub2)
	if _, err := w.rotate(admin, appID, pub2, 4); err != nil {
		t.Fatal(err)
	}
	next := linked(t, 2, prevOf(hdrs[1]), 4, nil) // heights 2..5
	for _, c := range []struct {
		name string
		sub  format.Submission
		msg  string
	}{
		{"new key below the rotation height", signed(priv2, next[0], 2, ""), "key " + k1},
		{"new key below, naming it", signed(priv2, next[0], 2, k2), "must be signed by key " + k1 + " (heights 0..3); the submission names " + k2},
		{"old key, naming the new one", signed(w.priv, next[0], 2, k2), "the submission names " + k2},
	} {
		t.Run(c.name, func(t *testing.T) {
			w.refusedNothingChanged(t, rules.ErrBadSignature, c.msg, func() error { _, _, err := w.record(anchor, c.sub); return err })
		})
	}
	c2, recorded, err := w.record(anchor, signed(w.priv, next[0], 2, k1))
	if err != nil || !recorded || c2.KeyID != k1 || c2.AnchoredAt != w.clock {
		t.Fatalf("backlog block 2 under the old key: %+v, %v, %v", c2, recorded, err)
	}
	// Block 4 under the old key: refused, in a batch too.
	w.refusedNothingChanged(t, rules.ErrBadSignature, "block 4", func() error {
		_, err := w.recordBatch(anchor, []format.Submission{signed(w.priv, next[1], 3, ""), signed(w.priv, next[2], 4, "")})
		return err
	})
	// Block 3 (old key, submitted without a key id, as older appliances do)
	// and block 4 (new key) in one batch across the rotation.
	out, err := w.recordBatch(anchor, []format.Submission{signed(w.priv, next[1], 3, ""), signed(priv2, next[2], 4, k2)})
	if err != nil {
		t.Fatalf("batch across the rotation: %v", err)
	}
	if out[0].Credential.KeyID != k1 || out[1].Credential.KeyID != k2 || out[1].Credential.AnchoredAt != w.clock {
		t.Fatalf("batch across the rotation recorded keys %s, %s", out[0].Credential.KeyID, out[1].Credential.KeyID)
	}
	if c, err := w.credentialAt(appID, 4); err != nil || c.KeyID != k2 {
		t.Fatalf("block 4 on the ledger: %+v, %v", c, err)
	}
	// Earlier blocks are untouched and still name the old key.
	if c, err := w.credentialAt(appID, 0); err != nil || c.KeyID != k1 {
		t.Fatalf("block 0 after the rotation: %+v, %v", c, err)
	}
}

func testRevokeApplianceKey(t *testing.T, newLedger func(t *testing.T) Ledger) {
	w := newWorld(t, newLedger)
	k1 := format.KeyID(w.pub)
	for _, c := range []struct {
		name   string
		caller rules.Caller
		app    string
		key    string
		at     func(now int64) int64 // the compromise time, given the revocation's
		want   error
		msg    string
	}{
		{"anchoring identity", anchor, appID, k1, func(now int64) int64 { return now - 1 }, rules.ErrForbidden, "not an admin"},
		{"unknown appliance", admin, "app-9", k1, func(now int64) int64 { return now - 1 }, rules.ErrUnknownAppliance, "app-9"},
		{"unknown key", admin, appID, "0123456789abcdef", func(now int64) int64 { return now - 1 }, rules.ErrNotFound, "0123456789abcdef"},
		{"no compromise time", admin, appID, k1, func(int64) int64 { return 0 }, rules.ErrInvalid, "compromise time"},
		{"compromise after the revocation", admin, appID, k1, func(now int64) int64 { return now + 1 }, rules.ErrInvalid, "is after the revocation"},
	} {
		t.Run(c.name, func(t *testing.T) {
			at := c.at(w.clock + 1e9) // the next transaction's time
			w.refusedNothingChanged(t, c.want, c.msg, func() error { _, err := w.revoke(c.caller, c.app, c.key, at, ""); return err })
		})
	}

	since := len(w.events())
	compromised := w.clock - 5e9
	a, err := w.revoke(admin, appID, k1, compromised, "")
	if err != nil {
		t.Fatal(err)
	}
	revokedAt := w.clock
	k := a.Keys[0]
	if k.RevokedAt != revokedAt || k.CompromisedAt != compromised || k.RevokeReason != "compromised" || !k.RevokedFor(compromised) || k.RevokedFor(compromised-1) {
		t.Fatalf("revoked key: %+v", k)
	}
	if !slices.Equal(w.events()[since:], []string{rules.EventApplianceKeyRevoked}) {
		t.Fatalf("events %v", w.events()[since:])
	}
	if got := w.mustAppliance(t); !sameJSON(got, a) {
		t.Fatalf("GetAppliance after revocation: %+v", got)
	}

	// A later compromise time changes nothing; an earlier one replaces it.
	before := w.snapshot()
	events := len(w.events())
	if again, err := w.revoke(admin, appID, k1, compromised+1, "later"); err != nil || !sameJSON(again, a) {
		t.Fatalf("revoked again, later: %+v, %v", again, err)
	}
	if !w.changedNothing(before, events) {
		t.Fatal("a later compromise time changed the record")
	}
	a, err = w.revoke(admin, appID, k1, compromised-1e9, "key file copied")
	if err != nil {
		t.Fatal(err)
	}
	if k := a.Keys[0]; k.CompromisedAt != compromised-1e9 || k.RevokeReason != "key file copied" || k.RevokedAt != revokedAt {
		t.Fatalf("revoked again, earlier: %+v", k)
	}
}

// A key compromised between the anchoring of two blocks: the earlier block
// stays on the ledger (and a retry of it gets its credential back), the
// later one is refused until the appliance has a new key.
func testRevokeBetweenTwoBlocks(t *testing.T, newLedger func(t *testing.T) Ledger) {
	w := newWorld(t, newLedger)
	hdrs := w.chain(t, 1, nil)
	anchored0 := w.clock
	k1 := format.KeyID(w.pub)
	if _, err := w.revoke(admin, appID, k1, anchored0+1, "appliance stolen"); err != nil {
		t.Fatal(err)
	}
	h1 := linked(t, 1, prevOf(hdrs[0]), 2, nil)
	for _, c := range []struct {
		name string
		fn   func() error
	}{
		{"single", func() error { _, _, err := w.record(anchor, w.sub(h1[0], 1)); return err }},
		{"batch", func() error { _, err := w.recordBatch(anchor, w.subs(h1, 1)); return err }},
	} {
		t.Run(c.name, func(t *testing.T) {
			w.refusedNothingChanged(t, rules.ErrKeyRevoked, "block 1: key "+k1+" was revoked", c.fn)
			err := c.fn()
			for _, want := range []string{"compromised at", "appliance stolen", "rotate the appliance's key"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
	// A transaction time set back before the compromise (a client's clock,
	// which Fabric does not check) changes nothing: the revocation is on
	// the ledger, so this block comes after it.
	now := w.clock
	w.clock = anchored0 - 10e9
	w.refusedNothingChanged(t, rules.ErrKeyRevoked, "block 1", func() error { _, _, err := w.record(anchor, w.sub(h1[0], 1)); return err })
	w.clock = now

	cred, recorded, err := w.record(anchor, w.sub(hdrs[0], 0))
	if err != nil || recorded || cred.KeyID != k1 || cred.AnchoredAt != anchored0 {
		t.Fatalf("retry of block 0, anchored before the compromise: %+v, recorded %v, %v", cred, recorded, err)
	}
	// The remedy: a new key from height 1.
	pub2, priv2 := newKey(t)
	if _, err := w.rotate(admin, appID, pub2, 1); err != nil {
		t.Fatal(err)
	}
	if c, recorded, err := w.record(anchor, signed(priv2, h1[0], 1, format.KeyID(pub2))); err != nil || !recorded || c.KeyID != format.KeyID(pub2) {
		t.Fatalf("block 1 under the new key: %+v, %v, %v", c, recorded, err)
	}
}
