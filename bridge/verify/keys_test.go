package verify

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// check returns the report's check of that name.
func check(rep *Report, name string) Check {
	for _, c := range rep.Checks {
		if c.Name == name {
			return c
		}
	}
	return Check{}
}

// bundleWithKey is reading seq's proof bundle as the appliance serves it:
// with its signing key's history entry and anchoring time, and through JSON.
func bundleWithKey(t *testing.T, c *pipelinetest.Chain, seq uint64) *ProofBundle {
	t.Helper()
	rec, err := c.Store.BlockForSeq(seq)
	if err != nil {
		t.Fatal(err)
	}
	b, err := proverOf(t, c, rec).Bundle(rec, seq)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cred, err := c.Ledger.Credential(ctx, rec.BlockID)
	if err != nil {
		t.Fatal(err)
	}
	app, err := c.Ledger.Appliance(ctx, c.ApplianceID)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.AttachKey(cred, app); err != nil {
		t.Fatal(err)
	}
	got, fields := viaJSON(t, b)
	if _, ok := fields["signing_key"]; !ok {
		t.Fatalf("bundle JSON without its signing key: %v", fields)
	}
	return got
}

// A key rotated at height H: blocks on both sides verify, each with its
// own key, including the backlog sealed under the old key and anchored
// after the rotation; reports and bundles name the key.
func TestRotationVerifiesBothSides(t *testing.T) {
	for _, f := range []int{1, 2} {
		t.Run(map[int]string{1: "v1", 2: "v2"}[f], func(t *testing.T) {
			c := pipelinetest.New(t, pipelinetest.WithRecipient(keys.KEMMLKEM768X25519), pipelinetest.WithFormat(f))
			c.Anchor(t, 3, 2, 4)
			oldKey := format.KeyID(c.Public)
			c.Ingest(t, 2) // sealed by the rotation under the old key, anchored after it
			lastOld := c.LastSeq()
			h := c.RotateKey(t)
			newKey := format.KeyID(c.Public)
			c.Anchor(t, 5, 2, 3)
			if h < 2 {
				t.Fatalf("rotated at height %d", h)
			}
			ctx := context.Background()
			v := &Verifier{Store: c.Store, Ledger: c.Ledger, Storage: c.Storage, Key: c.Owner}
			app, err := c.Ledger.Appliance(ctx, c.ApplianceID)
			if err != nil {
				t.Fatal(err)
			}
			for seq := uint64(1); seq <= c.LastSeq(); seq++ {
				rep := v.Reading(ctx, seq)
				if !rep.OK() || !slices.Equal(names(rep), fullProof) {
					t.Fatalf("reading %d: %+v", seq, rep.Checks)
				}
				want := newKey
				if seq <= lastOld {
					want = oldKey
				}
				if d := check(rep, "header signature").Detail; !strings.Contains(d, "key "+want) {
					t.Fatalf("reading %d: header signature %q does not name key %s", seq, d, want)
				}
				b := bundleWithKey(t, c, seq)
				if b.SigningKey.ID != want {
					t.Fatalf("reading %d: bundle names key %s, want %s", seq, b.SigningKey.ID, want)
				}
				if _, err := VerifyProofHistory(b, app); err != nil {
					t.Fatalf("reading %d: bundle: %v", seq, err)
				}
				if _, err := VerifyProofKey(b, *b.SigningKey); err != nil {
					t.Fatalf("reading %d: bundle with its own key entry: %v", seq, err)
				}
			}
			// The old key's report says when it was valid.
			rep := v.Reading(ctx, 1)
			if d := check(rep, "header signature").Detail; !strings.Contains(d, "heights 0..") || !strings.Contains(d, "rotated ") {
				t.Fatalf("old key's validity: %q", d)
			}
			// A bundle of the old key checked against the new one fails.
			b := bundleWithKey(t, c, 1)
			if _, err := VerifyProofKey(b, app.Current()); err == nil {
				t.Fatal("old block's bundle verified against the new key")
			}
		})
	}
}

// A bundle made before key history (no signing key, no anchoring time)
// still reads and verifies: with a key the verifier supplies, as before,
// and against the key history by its height.
func TestOldBundleStillVerifies(t *testing.T) {
	c := buildChain(t, 3, 2)
	rec := c.Block(t, 0)
	b, err := proverOf(t, c.Chain, rec).Bundle(rec, 1)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(b)
	if strings.Contains(string(data), "signing_key") || strings.Contains(string(data), "anchored_at") {
		t.Fatalf("a bundle without a key carries key fields: %s", data)
	}
	var old ProofBundle
	if err := json.Unmarshal(data, &old); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyProof(&old, c.Public); err != nil {
		t.Fatal(err)
	}
	app, _ := c.Ledger.Appliance(context.Background(), appID)
	if _, err := VerifyProofHistory(&old, app); err != nil {
		t.Fatal(err)
	}
}

// A key revoked with a compromise time between the anchoring of two
// blocks: the earlier block passes (with a note), the later FAILs "signing
// key", in the report and in its proof bundle.
func TestRevokedKeyBetweenTwoBlocks(t *testing.T) {
	clock := time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)
	c := pipelinetest.New(t, pipelinetest.WithLedgerClock(func() time.Time { return clock }))
	ctx := context.Background()
	c.Anchor(t, 5) // block 0, anchored at 01:00
	clock = clock.Add(time.Hour)
	c.Anchor(t, 5) // block 1, anchored at 02:00
	clock = clock.Add(time.Hour)
	keyID := format.KeyID(c.Public)
	if _, err := c.Ledger.RevokeApplianceKey(ctx, c.ApplianceID, keyID, clock.Add(-90*time.Minute), "key file copied"); err != nil {
		t.Fatal(err)
	}
	app, _ := c.Ledger.Appliance(ctx, c.ApplianceID)
	v := &Verifier{Store: c.Store, Ledger: c.Ledger, Storage: c.Storage, Key: c.Owner}

	early := v.Reading(ctx, 1)
	if !early.OK() || !strings.Contains(check(early, "signing key").Detail, "before the compromise") {
		t.Fatalf("block 0, anchored before the compromise: %+v", early.Checks)
	}
	if _, err := VerifyProofHistory(bundleWithKey(t, c, 1), app); err != nil {
		t.Fatalf("block 0's bundle: %v", err)
	}

	late := v.Reading(ctx, 6)
	if name := failure(t, late); name != "signing key" {
		t.Fatalf("block 1 failed %q, want signing key: %+v", name, late.Checks)
	}
	d := check(late, "signing key").Detail
	for _, want := range []string{"key " + keyID, "compromised at 2026-12-08T01:30:00Z", "key file copied", "anchored at 2026-12-08T02:00:00Z, after it"} {
		if !strings.Contains(d, want) {
			t.Errorf("signing key detail %q does not say %q", d, want)
		}
	}
	// The bundle made before the revocation, checked against the ledger's
	// history now, fails too.
	b := bundleWithKey(t, c, 6)
	var pe *ProofError
	if _, err := VerifyProofHistory(b, app); !errors.As(err, &pe) || pe.Check != "signing key" {
		t.Fatalf("block 1's bundle: %v", err)
	}
	// Anchoring under the revoked key is refused.
	c.Ingest(t, 5)
	rec := c.Seal(t)[0]
	sub := format.Submission{Header: rec.Header, HeaderSig: rec.HeaderSig, ObjectHash: rec.ObjectHash, Location: "fs:" + rec.ObjectHash}
	if _, _, err := c.Ledger.Anchor(ctx, sub); !errors.Is(err, rules.ErrKeyRevoked) || !strings.Contains(err.Error(), "rotate the appliance's key") {
		t.Fatalf("anchoring block 2 under the revoked key: %v", err)
	}
}

func TestCheckSigningKey(t *testing.T) {
	const c = int64(1_800_000_000_000_000_000)
	revoked := rules.ApplianceKey{ID: "0123456789abcdef", CompromisedAt: c, RevokedAt: c + 10, RevokeReason: "stolen"}
	for _, tc := range []struct {
		name       string
		key        rules.ApplianceKey
		anchoredAt int64
		ok         bool
		says       string
	}{
		{"not revoked", rules.ApplianceKey{ID: "0123456789abcdef"}, c, true, "not revoked"},
		{"not revoked, time unknown", rules.ApplianceKey{ID: "0123456789abcdef"}, 0, true, "not revoked"},
		{"anchored before the compromise", revoked, c - 1, true, "before the compromise"},
		{"anchored at the compromise", revoked, c, false, "after it"},
		{"anchored after", revoked, c + 5, false, "after it"},
		{"anchoring time unknown", revoked, 0, false, "anchoring time is unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, detail := CheckSigningKey(tc.key, tc.anchoredAt)
			if ok != tc.ok || !strings.Contains(detail, tc.says) {
				t.Fatalf("CheckSigningKey = %v, %q; want %v, %q", ok, detail, tc.ok, tc.says)
			}
		})
	}
}

// The credential's key id must be the key of its height: a ledger record
// naming another key is refused, not used.
func TestKeyOf(t *testing.T) {
	a := &rules.Appliance{ID: appID, Keys: []rules.ApplianceKey{
		{ID: "aaaaaaaaaaaaaaaa", ToHeight: 5, RotatedAt: 1},
		{ID: "bbbbbbbbbbbbbbbb", FromHeight: 5},
	}}
	for _, tc := range []struct {
		keyID  string
		height uint64
		want   string // key id, or a word of the error
	}{
		{"", 0, "aaaaaaaaaaaaaaaa"},
		{"", 4, "aaaaaaaaaaaaaaaa"},
		{"", 5, "bbbbbbbbbbbbbbbb"},
		{"bbbbbbbbbbbbbbbb", 9, "bbbbbbbbbbbbbbbb"},
		{"aaaaaaaaaaaaaaaa", 5, "heights 0..4"},
		{"cccccccccccccccc", 5, "does not have"},
	} {
		k, err := KeyOf(a, tc.keyID, tc.height)
		got := k.ID
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("KeyOf(%q, %d) = %q, want %q", tc.keyID, tc.height, got, tc.want)
		}
	}
}
