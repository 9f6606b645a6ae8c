package ledger

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// The embedded ledger's key verbs stamp their transactions with its clock,
// and a block under a revoked key comes back as rules.ErrKeyRevoked.
func TestRotateAndRevokeKey(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	clock := time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)
	led := NewEmbedded(st.Ledger(), "appliance-"+appID, slog.New(slog.DiscardHandler), WithClock(func() time.Time { return clock }))
	ctx := context.Background()
	pub1, priv1, _ := ed25519.GenerateKey(rand.Reader)
	id := led.Identity()
	if err := led.RegisterAppliance(ctx, rules.Appliance{ID: appID, PublicKey: pub1, AnchorMSP: id.MSPID, AnchorID: id.ID}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, led: led, priv: priv1}
	h0 := header(t, 0, nil)
	clock = clock.Add(time.Minute)
	c0, _, err := led.Anchor(ctx, f.sub(h0, 1))
	if err != nil || c0.AnchoredAt != clock.UnixNano() || c0.KeyID != format.KeyID(pub1) {
		t.Fatalf("block 0: %+v, %v", c0, err)
	}

	clock = clock.Add(time.Hour)
	compromised := clock.Add(-30 * time.Minute)
	a, err := led.RevokeApplianceKey(ctx, appID, format.KeyID(pub1), compromised, "")
	if err != nil {
		t.Fatal(err)
	}
	if k := a.Keys[0]; k.RevokedAt != clock.UnixNano() || k.CompromisedAt != compromised.UnixNano() || k.RevokeReason != "compromised" {
		t.Fatalf("revoked %+v", k)
	}
	if _, err := led.RevokeApplianceKey(ctx, appID, format.KeyID(pub1), time.Time{}, ""); !errors.Is(err, rules.ErrInvalid) || !strings.Contains(err.Error(), "revoke key") {
		t.Fatalf("zero compromise time: %v", err)
	}

	h1 := header(t, 1, prevOf(h0))
	if _, _, err := led.Anchor(ctx, f.sub(h1, 2)); !errors.Is(err, rules.ErrKeyRevoked) {
		t.Fatalf("block 1 under the revoked key: %v", err)
	}
	pub2, priv2, _ := ed25519.GenerateKey(rand.Reader)
	clock = clock.Add(time.Minute)
	a, err = led.RotateApplianceKey(ctx, appID, pub2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if k := a.Current(); k.ID != format.KeyID(pub2) || k.RegisteredAt != clock.UnixNano() || a.Keys[0].RotatedAt != clock.UnixNano() {
		t.Fatalf("rotated %+v", a.Keys)
	}
	if _, err := led.RotateApplianceKey(ctx, appID, pub1, 1); !errors.Is(err, rules.ErrConflict) {
		t.Fatalf("rotation back to the old key: %v", err)
	}
	f.priv = priv2
	if c1, _, err := led.Anchor(ctx, f.sub(h1, 2)); err != nil || c1.KeyID != format.KeyID(pub2) {
		t.Fatalf("block 1 under the new key: %+v, %v", c1, err)
	}
}
