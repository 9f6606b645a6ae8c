package verify

import (
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/protocols"
)

// testPoll is one poll of a device.
type testPoll struct {
	device  string
	samples []protocols.Sample
}

// sealPolls ingests the polls with the appliance key priv and seals each
// group of them as one block (of at most 5 readings), encrypted for a new
// owner key. It returns the store and the owner key.
func sealPolls(tb testing.TB, priv ed25519.PrivateKey, groups [][]testPoll) (*store.Store, hpke.PrivateKey) {
	tb.Helper()
	c := pipelinetest.New(tb, pipelinetest.WithApplianceKey(priv), pipelinetest.WithMaxReadings(5))
	clock := time.Unix(1_700_000_000, 0).UTC()
	for _, group := range groups {
		for _, p := range group {
			clock = clock.Add(time.Second)
			c.IngestPoll(tb, p.device, clock, p.samples...)
		}
		if recs := c.Seal(tb); len(recs) != 1 {
			tb.Fatalf("sealed %d blocks", len(recs))
		}
	}
	return c.Store, c.Owner
}

// bundleOf builds the bundle of reading seq of block height as the
// appliance serves it, and returns it as a partner receives it: through
// JSON.
func bundleOf(tb testing.TB, st *store.Store, owner hpke.PrivateKey, height, seq uint64) *ProofBundle {
	tb.Helper()
	rec, err := st.Block(height)
	if err != nil {
		tb.Fatal(err)
	}
	obj, err := st.Object(height)
	if err != nil {
		tb.Fatal(err)
	}
	o, err := envelope.Parse(obj)
	if err != nil {
		tb.Fatal(err)
	}
	plain, err := o.Open(owner)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := NewProver(rec, plain)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := p.Bundle(rec, seq)
	if err != nil {
		tb.Fatal(err)
	}
	data, err := json.Marshal(b)
	if err != nil {
		tb.Fatal(err)
	}
	var out ProofBundle
	if err := json.Unmarshal(data, &out); err != nil {
		tb.Fatal(err)
	}
	return &out
}

// tamperPolls are polls of 3, 2, 4, 1, 5 and 2 readings from two devices
// in turn, sealed as blocks 0..3 of 5, 5, 5 and 2 readings: block 1 holds
// polls 6..9 (of boiler-1) and 10.
func tamperPolls() [][]testPoll {
	var groups [][]testPoll
	seq, n := uint64(1), 0
	for _, sizes := range [][]int{{3, 2}, {4, 1}, {5}, {2}} {
		var g []testPoll
		for _, size := range sizes {
			p := testPoll{device: []string{"boiler-1", "press-2"}[n%2]}
			for j := range size {
				p.samples = append(p.samples, protocols.Sample{Point: fmt.Sprintf("p%d", j), Value: float64(seq) / 4, Unit: "degC", Quality: protocols.Good})
				seq++
			}
			g = append(g, p)
			n++
		}
		groups = append(groups, g)
	}
	return groups
}

func TestVerifyProofCatchesTampering(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	st, owner := sealPolls(t, priv, tamperPolls())
	const seq = 8
	orig := bundleOf(t, st, owner, 1, seq)
	if _, err := VerifyProof(orig, pub); err != nil {
		t.Fatalf("untampered bundle: %v", err)
	}
	block2, err := st.Block(2)
	if err != nil {
		t.Fatal(err)
	}
	otherPub, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	other := bundleOf(t, st, owner, 1, 9) // a valid bundle of a neighbour
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
			b.Decoded = r.JSON()
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
			h, _ := format.ParseHeader(b.Header)
			h.SealedAt++
			b.Header, _ = h.Encode()
		}, nil, "header signature"},
		{"header and root of a forged tree", func(b *ProofBundle) {
			h, _ := format.ParseHeader(b.Header)
			h.MerkleRoot = flip(h.MerkleRoot, 0)
			b.Header, _ = h.Encode()
		}, nil, "merkle proof"},
		{"header re-signed by another key", func(b *ProofBundle) { b.HeaderSignature = format.SignHeader(otherPriv, b.Header) }, nil, "header signature"},
		{"header signature flipped", func(b *ProofBundle) { b.HeaderSignature = flip(b.HeaderSignature, 3) }, nil, "header signature"},
		{"block id of another block", func(b *ProofBundle) { b.BlockID = block2.BlockID }, nil, "header signature"},
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
			if _, err := VerifyProof(&b, pub); err != nil {
				t.Fatalf("copy does not verify before tampering: %v", err)
			}
			tc.tamper(&b)
			pub := pub
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

// TestProverRefusesReadingsOutsideTheBlock: a bundle is only built for a
// reading of the block.
func TestProverRefusesReadingsOutsideTheBlock(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	st, owner := sealPolls(t, priv, tamperPolls())
	rec, err := st.Block(1)
	if err != nil {
		t.Fatal(err)
	}
	obj, _ := st.Object(1)
	o, _ := envelope.Parse(obj)
	plain, err := o.Open(owner)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProver(rec, plain)
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range []uint64{rec.FirstSeq - 1, rec.LastSeq + 1} {
		if _, err := p.Bundle(rec, seq); err == nil {
			t.Fatalf("bundle of reading %d built from block %d..%d", seq, rec.FirstSeq, rec.LastSeq)
		}
	}
	other, _ := st.Block(2)
	if _, err := NewProver(other, plain); err == nil {
		t.Fatal("block 1's body accepted as block 2's")
	}
}
