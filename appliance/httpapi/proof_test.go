package httpapi

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/wotchain/wotchain/bridge/block"
	"github.com/wotchain/wotchain/bridge/reading"
)

// fetchProof gets and decodes the bundle of reading seq from block id.
func (e *env) fetchProof(t *testing.T, id string, seq uint64) *ProofBundle {
	t.Helper()
	var b ProofBundle
	e.getJSON(t, fmt.Sprintf("/api/blocks/%s/proof?seq=%d", id, seq), http.StatusOK, &b)
	return &b
}

func TestProofOfEveryReadingVerifies(t *testing.T) {
	e := newEnv(t)
	for h := uint64(0); h < 6; h++ {
		rec := e.c.block(t, h)
		for seq := rec.FirstSeq; seq <= rec.LastSeq; seq++ {
			// Address the block by id and by height alike.
			for _, id := range []string{rec.BlockID, fmt.Sprint(h)} {
				b := e.fetchProof(t, id, seq)
				r, err := VerifyProof(b, e.c.pub)
				if err != nil {
					t.Fatalf("block %d reading %d: %v", h, seq, err)
				}
				want := e.c.readings[seq-1]
				if r.Seq != seq || r.DeviceID != want.device || r.Point != want.point || r.Value() != want.value {
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
	rec := e.c.block(t, 1)
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
		raw, err := e.c.st.Reading(6 + uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(h, reading.LeafHash(raw)) {
			t.Fatalf("leaf hash %d is not reading %d's", i, 6+i)
		}
	}
	raw, _ := e.c.st.Reading(8)
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
	rec := e.c.block(t, 2)
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

func TestVerifyProofCatchesTampering(t *testing.T) {
	e := newEnv(t)
	rec := e.c.block(t, 1)
	const seq = 8
	orig := e.fetchProof(t, rec.BlockID, seq)
	if _, err := VerifyProof(orig, e.c.pub); err != nil {
		t.Fatalf("untampered bundle: %v", err)
	}
	otherPub, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	other := e.fetchProof(t, rec.BlockID, 9) // a valid bundle of a neighbour
	flip := func(b []byte, i int) []byte {
		b = slices.Clone(b)
		b[i%len(b)] ^= 1
		return b
	}
	cases := []struct {
		name   string
		tamper func(b *ProofBundle)
		pub    ed25519.PublicKey
		check  string
	}{
		{"reading byte flipped", func(b *ProofBundle) { b.Reading = flip(b.Reading, len(b.Reading)-3) }, nil, ""},
		{"reading value changed and re-encoded", func(b *ProofBundle) {
			r, _ := reading.Decode(b.Reading)
			_ = r.SetValue(99.5)
			b.Reading, _ = r.Encode()
			b.Decoded = NewReading(r)
		}, nil, "poll signature"},
		{"decoded value changed", func(b *ProofBundle) { b.Decoded.Value = json.Number("99.5") }, nil, "reading"},
		{"decoded time changed", func(b *ProofBundle) { b.Decoded.Time = b.Decoded.Time.Add(1) }, nil, "reading"},
		{"seq claimed differently", func(b *ProofBundle) { b.Seq++ }, nil, "reading"},
		{"neighbour's reading swapped in", func(b *ProofBundle) { b.Reading, b.Decoded = other.Reading, other.Decoded }, nil, "reading"},
		{"neighbour's reading and seq swapped in", func(b *ProofBundle) {
			// Same poll, so its signature holds; the path is for leaf 2.
			b.Reading, b.Decoded, b.Seq = other.Reading, other.Decoded, other.Seq
		}, nil, "merkle proof"},
		{"poll leaf hash changed", func(b *ProofBundle) {
			b.PollLeafHashes = slices.Clone(b.PollLeafHashes)
			b.PollLeafHashes[0] = flip(b.PollLeafHashes[0], 0)
		}, nil, "poll signature"},
		{"poll leaf hash dropped", func(b *ProofBundle) { b.PollLeafHashes = b.PollLeafHashes[:3] }, nil, "poll signature"},
		{"poll signature flipped", func(b *ProofBundle) {
			p, _ := reading.DecodePoll(b.Poll)
			p.Signature = flip(p.Signature, 5)
			b.Poll, _ = reading.EncodePoll(p)
		}, nil, "poll signature"},
		{"poll of another device", func(b *ProofBundle) {
			p, _ := reading.DecodePoll(b.Poll)
			p.DeviceID = "press-2"
			b.Poll, _ = reading.EncodePoll(p)
		}, nil, "poll signature"},
		{"poll garbage", func(b *ProofBundle) { b.Poll = []byte{0xff} }, nil, "poll signature"},
		{"merkle path hash flipped", func(b *ProofBundle) {
			b.MerklePath = slices.Clone(b.MerklePath)
			b.MerklePath[1] = flip(b.MerklePath[1], 7)
		}, nil, "merkle proof"},
		{"merkle path shortened", func(b *ProofBundle) { b.MerklePath = b.MerklePath[1:] }, nil, "merkle proof"},
		{"leaf index changed", func(b *ProofBundle) { b.LeafIndex++ }, nil, "merkle proof"},
		{"tree size changed", func(b *ProofBundle) { b.TreeSize++ }, nil, "merkle proof"},
		{"header byte flipped", func(b *ProofBundle) { b.Header = flip(b.Header, len(b.Header)/2) }, nil, ""},
		{"header sealing time changed and re-encoded", func(b *ProofBundle) {
			h, _ := block.ParseHeader(b.Header)
			h.SealedAt++
			b.Header, _ = h.Encode()
		}, nil, "header signature"},
		{"header and root of a forged tree", func(b *ProofBundle) {
			h, _ := block.ParseHeader(b.Header)
			h.MerkleRoot = flip(h.MerkleRoot, 0)
			b.Header, _ = h.Encode()
		}, nil, "merkle proof"},
		{"header re-signed by another key", func(b *ProofBundle) { b.HeaderSignature = block.SignHeader(otherPriv, b.Header) }, nil, "header signature"},
		{"header signature flipped", func(b *ProofBundle) { b.HeaderSignature = flip(b.HeaderSignature, 3) }, nil, "header signature"},
		{"block id of another block", func(b *ProofBundle) { b.BlockID = e.c.block(t, 2).BlockID }, nil, "header signature"},
		{"height claimed differently", func(b *ProofBundle) { b.Height = 7 }, nil, "header signature"},
		{"verified with another appliance key", func(*ProofBundle) {}, otherPub, "poll signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Each case tampers a fresh copy that went through JSON, as a
			// partner would receive it.
			data, err := json.Marshal(orig)
			if err != nil {
				t.Fatal(err)
			}
			var b ProofBundle
			if err := json.Unmarshal(data, &b); err != nil {
				t.Fatal(err)
			}
			if _, err := VerifyProof(&b, e.c.pub); err != nil {
				t.Fatalf("copy does not verify before tampering: %v", err)
			}
			tc.tamper(&b)
			pub := e.c.pub
			if tc.pub != nil {
				pub = tc.pub
			}
			_, err = VerifyProof(&b, pub)
			var pe *ProofError
			if !errors.As(err, &pe) {
				t.Fatalf("tampered bundle: error %v, want a ProofError", err)
			}
			if tc.check != "" && pe.Check != tc.check {
				t.Fatalf("failed at %q (%v), want %q", pe.Check, err, tc.check)
			}
		})
	}
}

func TestReadingJSONKeepsLargeIntegers(t *testing.T) {
	r := &reading.Reading{ApplianceID: appID, DeviceID: "d", Point: "counter", Seq: 1, ApplianceTime: 1}
	if err := r.SetValue(int64(1<<53 + 1)); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(NewReading(r))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"value":9007199254740993`) {
		t.Fatalf("encoded %s", data)
	}
	var back Reading
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(back)
	if string(again) != string(data) {
		t.Fatalf("round trip changed the reading:\n%s\n%s", data, again)
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
		e.srv.opts.Objects = tamperingObjects{Objects: e.c.fs, alter: alter}
		rec := *e.c.block(t, 2)
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
		if _, err := VerifyProof(b, e.c.pub); err == nil {
			t.Fatal("bundle claiming height 99 for block 2 verified")
		}
		b.Height = 2
		if _, err := VerifyProof(b, e.c.pub); err != nil {
			t.Fatalf("bundle from a stored object: %v", err)
		}
	}
}
