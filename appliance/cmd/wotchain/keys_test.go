package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// historyOnly is a KeyAdmin that only reads: checkRevocable asks for the
// appliance's record and nothing else.
type historyOnly struct{ a *rules.Appliance }

func (h historyOnly) Appliance(context.Context, string) (*rules.Appliance, error) { return h.a, nil }
func (historyOnly) RotateApplianceKey(context.Context, string, ed25519.PublicKey, uint64) (*rules.Appliance, error) {
	panic("not a check")
}
func (historyOnly) RevokeApplianceKey(context.Context, string, string, time.Time, string) (*rules.Appliance, error) {
	panic("not a check")
}

// revoke-key refuses, without --force, only a revocation that would lose
// readings: a pending block of the key that the disk budget dropped cannot
// be re-sealed. Pending blocks that can be re-sealed, or the current key,
// are no reason to refuse any more.
func TestCheckRevocable(t *testing.T) {
	pub1, _, _ := ed25519.GenerateKey(nil)
	pub2, _, _ := ed25519.GenerateKey(nil)
	k1, k2 := format.KeyID(pub1), format.KeyID(pub2)
	a := &rules.Appliance{ID: "a-1", PublicKey: pub2, Keys: []rules.ApplianceKey{
		{ID: k1, PublicKey: pub1, ToHeight: 2, RotatedAt: 1}, {ID: k2, PublicKey: pub2, FromHeight: 2},
	}}
	cfg := &config.Config{}
	cfg.Appliance.ID = "a-1"
	st, err := store.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for h := uint64(0); h < 3; h++ {
		hb := []byte{byte(h)}
		sum := sha256.Sum256(hb)
		rec := &store.BlockRecord{Height: h, BlockID: fmt.Sprintf("%x", sum), Header: hb, FirstSeq: 1 + 2*h, LastSeq: 2 + 2*h, ObjectHash: fmt.Sprintf("%064x", h)}
		if err := st.CommitBlock(rec, []byte("object")); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	admin := historyOnly{a}
	for _, id := range []string{k1, k2} {
		if err := checkRevocable(ctx, cfg, admin, st, id, false); err != nil {
			t.Fatalf("key %s with re-sealable blocks pending: %v", id, err)
		}
	}
	if err := checkRevocable(ctx, cfg, admin, st, "0123456789abcdef", true); err == nil || !strings.Contains(err.Error(), k1+", "+k2) {
		t.Fatalf("an unknown key: %v", err)
	}
	if err := st.DropBlock(1, nil, nil); err != nil {
		t.Fatal(err)
	}
	err = checkRevocable(ctx, cfg, admin, st, k1, false)
	if err == nil || !strings.Contains(err.Error(), "block 1") || !strings.Contains(err.Error(), "dropped") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("a dropped block of the key pending: %v", err)
	}
	if err := checkRevocable(ctx, cfg, admin, st, k2, false); err != nil {
		t.Fatalf("the other key: %v", err)
	}
	if err := checkRevocable(ctx, cfg, admin, st, k1, true); err != nil {
		t.Fatalf("with --force: %v", err)
	}
}
