package fabricledger_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/fabric/fabricledger"
)

// keyHistory rotates and revokes an appliance key through the real
// chaincode (issue #14): registering another key is refused, the backlog
// below the rotation height is anchored under the old key and the blocks
// from it under the new one, a key revoked as compromised after block 2
// refuses block 3 with rules.ErrKeyRevoked on the client (the revocation
// cut its range at height 3), and a new key anchors it. Only manufacturer admins rotate and revoke; every time is a
// transaction timestamp.
func keyHistory(ctx context.Context, t *testing.T, admin, anchor, stranger, partner *fabricledger.Ledger) {
	t.Helper()
	newKey := func() (ed25519.PublicKey, ed25519.PrivateKey) {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return pub, priv
	}
	pub1, priv1 := newKey()
	pub2, priv2 := newKey()
	pub3, priv3 := newKey()
	k1, k2, k3 := format.KeyID(pub1), format.KeyID(pub2), format.KeyID(pub3)
	app := rules.Appliance{ID: "appliance-it-keys", PublicKey: pub1, AnchorMSP: anchor.Identity().MSPID, AnchorID: anchor.Identity().ID}
	if err := admin.RegisterAppliance(ctx, app); err != nil {
		t.Fatalf("register: %v", err)
	}
	other := app
	other.PublicKey = pub2
	if err := admin.RegisterAppliance(ctx, other); !errors.Is(err, rules.ErrConflict) || !strings.Contains(err.Error(), "RotateApplianceKey") {
		t.Fatalf("registering another key: %v, want ErrConflict pointing to RotateApplianceKey", err)
	}

	signed := func(priv ed25519.PrivateKey, keyID string, height uint64, prev *format.Credential) format.Submission {
		var p []byte
		if prev != nil {
			p, _ = hex.DecodeString(prev.BlockID)
		}
		s := submissionAt(t, priv, app.ID, height, p)
		s.KeyID = keyID
		return s
	}
	anchorOK := func(s format.Submission, wantKey string) *format.Credential {
		t.Helper()
		before := time.Now()
		c, recorded, err := anchor.Anchor(ctx, s)
		if err != nil || !recorded {
			t.Fatalf("anchor: recorded=%v err=%v", recorded, err)
		}
		if c.KeyID != wantKey {
			t.Fatalf("block %d recorded under key %s, want %s", c.Height, c.KeyID, wantKey)
		}
		plausibleTxTime(t, "AnchoredAt", c.AnchoredAt, before, time.Now())
		return c
	}
	c0 := anchorOK(signed(priv1, "", 0, nil), k1) // an older appliance names no key

	if _, err := stranger.RotateApplianceKey(ctx, app.ID, pub2, 2); !errors.Is(err, rules.ErrForbidden) {
		t.Fatalf("rotation by a client: %v, want ErrForbidden", err)
	}
	if _, err := admin.RotateApplianceKey(ctx, app.ID, pub2, 0); !errors.Is(err, rules.ErrConflict) {
		t.Fatalf("rotation from an anchored height: %v, want ErrConflict", err)
	}
	before := time.Now()
	a, err := admin.RotateApplianceKey(ctx, app.ID, pub2, 2) // block 1 is the backlog under key 1
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if len(a.Keys) != 2 || a.Keys[0].ToHeight != 2 || a.Current().ID != k2 || a.Current().FromHeight != 2 {
		t.Fatalf("after rotation: %+v", a.Keys)
	}
	plausibleTxTime(t, "RotatedAt", a.Keys[0].RotatedAt, before, time.Now())

	if _, _, err := anchor.Anchor(ctx, signed(priv2, k2, 1, c0)); !errors.Is(err, rules.ErrBadSignature) {
		t.Fatalf("block 1 under the new key: %v, want ErrBadSignature", err)
	}
	c1 := anchorOK(signed(priv1, k1, 1, c0), k1)
	if _, _, err := anchor.Anchor(ctx, signed(priv1, k1, 2, c1)); !errors.Is(err, rules.ErrBadSignature) {
		t.Fatalf("block 2 under the old key: %v, want ErrBadSignature", err)
	}
	c2 := anchorOK(signed(priv2, k2, 2, c1), k2)

	// Key 2 leaks just after block 2 was anchored.
	if _, err := stranger.RevokeApplianceKey(ctx, app.ID, k2, time.Unix(0, c2.AnchoredAt+1), "leaked"); !errors.Is(err, rules.ErrForbidden) {
		t.Fatalf("revocation by a client: %v, want ErrForbidden", err)
	}
	if _, err := admin.RevokeApplianceKey(ctx, app.ID, "0123456789abcdef", time.Unix(0, c2.AnchoredAt+1), ""); !errors.Is(err, rules.ErrNotFound) {
		t.Fatalf("revoking an unknown key: %v, want ErrNotFound", err)
	}
	if _, err := admin.RevokeApplianceKey(ctx, app.ID, k2, time.Now().Add(time.Hour), ""); !errors.Is(err, rules.ErrInvalid) {
		t.Fatalf("compromise time in the future: %v, want ErrInvalid", err)
	}
	before = time.Now()
	a, err = admin.RevokeApplianceKey(ctx, app.ID, k2, time.Unix(0, c2.AnchoredAt+1), "leaked")
	if err != nil {
		t.Fatalf("revoke: %v", err)
	}
	k, _ := a.Key(k2)
	if k.CompromisedAt != c2.AnchoredAt+1 || k.RevokeReason != "leaked" || !k.Cut || k.ToHeight != 3 {
		t.Fatalf("revoked key %+v, want it cut at height 3, its first unanchored", k)
	}
	plausibleTxTime(t, "RevokedAt", k.RevokedAt, before, time.Now())

	_, _, err = anchor.Anchor(ctx, signed(priv2, k2, 3, c2))
	if !errors.Is(err, rules.ErrKeyRevoked) || !strings.Contains(err.Error(), "key "+k2+" was revoked") || !strings.Contains(err.Error(), "rotate the appliance's key") {
		t.Fatalf("block 3 under the revoked key: %v, want ErrKeyRevoked saying why", err)
	}
	t.Logf("anchoring under the revoked key: %v", err)
	// The appliance sealed blocks 3 and 4 under key 2 before it rotated:
	// the new key starts at the cut all the same, and re-sealed block 3
	// anchors under it.
	if a, err := admin.RotateApplianceKey(ctx, app.ID, pub3, 5); err != nil || a.Current().FromHeight != 3 {
		t.Fatalf("rotate after the revocation: %+v, %v; want the new key from the cut, height 3", a, err)
	}
	anchorOK(signed(priv3, k3, 3, c2), k3)

	// The partner reads the whole history through its own peer.
	seen := eventually(t, func() (*rules.Appliance, error) { return partner.Appliance(ctx, app.ID) },
		func(a *rules.Appliance) bool { return len(a.Keys) == 3 })
	if ids := []string{seen.Keys[0].ID, seen.Keys[1].ID, seen.Keys[2].ID}; ids[0] != k1 || ids[1] != k2 || ids[2] != k3 || seen.Keys[1].CompromisedAt == 0 {
		t.Fatalf("partner reads keys %+v", seen.Keys)
	}
	if c, err := partner.CredentialAt(ctx, app.ID, 1); err != nil || c.KeyID != k1 {
		t.Fatalf("partner reads block 1: %+v, %v", c, err)
	}
}
