package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/verify"
)

// fetchProof gets and decodes the bundle of reading seq from block id.
func (e *env) fetchProof(t *testing.T, id string, seq uint64) *verify.ProofBundle {
	t.Helper()
	var b verify.ProofBundle
	e.getJSON(t, fmt.Sprintf("/api/blocks/%s/proof?seq=%d", id, seq), http.StatusOK, &b)
	return &b
}

func TestProofOfEveryReadingVerifies(t *testing.T) {
	e := newEnv(t)
	for h := uint64(0); h < 6; h++ {
		rec := e.c.Block(t, h)
		for seq := rec.FirstSeq; seq <= rec.LastSeq; seq++ {
			// Address the block by id and by height alike.
			for _, id := range []string{rec.BlockID, fmt.Sprint(h)} {
				b := e.fetchProof(t, id, seq)
				r, err := verify.VerifyProof(b, e.c.Public)
				if err != nil {
					t.Fatalf("block %d reading %d: %v", h, seq, err)
				}
				want := e.c.Readings[seq-1]
				if r.Seq != seq || r.DeviceID != want.Device || r.Point != want.Point || r.Value() != want.Value {
					t.Fatalf("verified reading %+v, ingested %+v", r, want)
				}
				if b.BlockID != rec.BlockID || b.Height != h || b.ObjectHash != rec.ObjectHash || b.Location != rec.Location ||
					b.State != rec.State.String() || b.ApplianceID != appID || b.TreeSize != rec.LastSeq-rec.FirstSeq+1 ||
					b.LeafIndex != seq-rec.FirstSeq || b.Decoded.Seq != seq {
					t.Fatalf("bundle of %d: %+v", seq, b)
				}
			}
		}
	}
}

func TestProofBundleContents(t *testing.T) {
	e := newEnv(t)
	// Block 1 holds polls 6..9 (4 readings) and 10 (1 reading); seq 8 is
	// in the first, so its poll signature needs all four leaf hashes.
	rec := e.c.Block(t, 1)
	if rec.FirstSeq != 6 || rec.LastSeq != 10 {
		t.Fatalf("fixture block 1 holds %d..%d", rec.FirstSeq, rec.LastSeq)
	}
	b := e.fetchProof(t, rec.BlockID, 8)
	p, err := reading.DecodePoll(b.Poll)
	if err != nil {
		t.Fatal(err)
	}
	if p.FirstSeq != 6 || p.LastSeq != 9 || len(b.PollLeafHashes) != 4 {
		t.Fatalf("poll %d..%d with %d leaf hashes", p.FirstSeq, p.LastSeq, len(b.PollLeafHashes))
	}
	for i, h := range b.PollLeafHashes {
		raw, err := e.c.Store.Reading(6 + uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(h, reading.LeafHash(raw)) {
			t.Fatalf("leaf hash %d is not reading %d's", i, 6+i)
		}
	}
	raw, _ := e.c.Store.Reading(8)
	if !slices.Equal(b.Reading, raw) || !slices.Equal(b.Header, rec.Header) || !slices.Equal(b.HeaderSignature, rec.HeaderSig) {
		t.Fatal("bundle bytes differ from the store's")
	}
	// A tree of 5 leaves: leaf 2 needs 3 hashes.
	if len(b.MerklePath) != 3 || b.LeafIndex != 2 || b.TreeSize != 5 {
		t.Fatalf("path of %d hashes, leaf %d of %d", len(b.MerklePath), b.LeafIndex, b.TreeSize)
	}
	// Byte fields travel as base64.
	w := e.get(t, "/api/blocks/1/proof?seq=8")
	var rawJSON map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &rawJSON); err != nil {
		t.Fatal(err)
	}
	if s, ok := rawJSON["reading"].(string); !ok || len(s) < len(raw) {
		t.Fatalf("reading is not base64 text: %v", rawJSON["reading"])
	}
}

func TestProofErrors(t *testing.T) {
	e := newEnv(t)
	rec := e.c.Block(t, 2)
	cases := []struct {
		target string
		code   int
		msg    string
	}{
		{fmt.Sprintf("/api/blocks/%s/proof?seq=%d", rec.BlockID, rec.FirstSeq-1), http.StatusNotFound, "is not in block 2"},
		{fmt.Sprintf("/api/blocks/2/proof?seq=%d", rec.LastSeq+1), http.StatusNotFound, "is not in block 2"},
		{"/api/blocks/9/proof?seq=1", http.StatusNotFound, "not found"},
		{"/api/blocks/" + strings.Repeat("0", 64) + "/proof?seq=1", http.StatusNotFound, "not found"},
	}
	for _, tc := range cases {
		var got apiError
		e.getJSON(t, tc.target, tc.code, &got)
		if !strings.Contains(got.Error, tc.msg) {
			t.Fatalf("%s: %+v, want %q", tc.target, got, tc.msg)
		}
	}
	noKey := newEnv(t, func(o *Options) { o.OwnerKey = nil })
	var got apiError
	noKey.getJSON(t, "/api/blocks/2/proof?seq=12", http.StatusServiceUnavailable, &got)
	if !strings.Contains(got.Error, "owner key") {
		t.Fatalf("without an owner key: %+v", got)
	}
}

// tamperingObjects serves stored objects, optionally altered.
type tamperingObjects struct {
	Objects
	alter bool
}

func (o tamperingObjects) Get(ctx context.Context, location string) ([]byte, error) {
	b, err := o.Objects.Get(ctx, location)
	if err == nil && o.alter {
		b = slices.Clone(b)
		b[len(b)/2] ^= 1
	}
	return b, err
}

func TestProofFromStorage(t *testing.T) {
	// A block whose object the store no longer holds is read from storage,
	// and only if it is the object the block record names.
	for _, alter := range []bool{false, true} {
		e := newEnv(t)
		e.srv.opts.Objects = tamperingObjects{Objects: e.c.Storage, alter: alter}
		rec := *e.c.Block(t, 2)
		rec.Height = 99 // no object under this height in the store
		b, err := e.srv.proof(context.Background(), &rec, rec.FirstSeq+1)
		if alter {
			if err == nil || !strings.Contains(err.Error(), "hashes to") {
				t.Fatalf("altered object from storage: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		// The bundle is of the real block 2; the verifier insists on it.
		if _, err := verify.VerifyProof(b, e.c.Public); err == nil {
			t.Fatal("bundle claiming height 99 for block 2 verified")
		}
		b.Height = 2
		if _, err := verify.VerifyProof(b, e.c.Public); err != nil {
			t.Fatalf("bundle from a stored object: %v", err)
		}
	}
}

// With the ledger wired (Credentials, which is also a KeyHistory), the
// bundle of an anchored block carries its signing key's history entry and
// anchoring time: after a key rotation a block of the old key still
// verifies against the ledger's key history, as one of the new key does.
func TestProofBundleCarriesSigningKey(t *testing.T) {
	e := newEnv(t)
	e.c.Drain(t)
	h := e.c.RotateKey(t)
	e.c.Anchor(t, 2, 3)
	e.srv = New(Options{ApplianceID: appID, Store: e.c.Store, OwnerKey: e.c.Owner, Credentials: e.c.Ledger, Logger: slog.New(slog.DiscardHandler)})
	app, err := e.c.Ledger.Appliance(context.Background(), appID)
	if err != nil {
		t.Fatal(err)
	}
	for _, height := range []uint64{0, h} {
		rec := e.c.Block(t, height)
		b := e.fetchProof(t, rec.BlockID, rec.FirstSeq)
		want, _ := app.KeyForHeight(height)
		if b.SigningKey == nil || b.SigningKey.ID != want.ID || b.AnchoredAt == 0 {
			t.Fatalf("block %d: bundle key %+v anchored at %d, want key %s", height, b.SigningKey, b.AnchoredAt, want.ID)
		}
		if _, err := verify.VerifyProofHistory(b, app); err != nil {
			t.Fatalf("block %d: %v", height, err)
		}
	}
}
