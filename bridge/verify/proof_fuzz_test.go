package verify

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/protocols"
)

// fuzzKey is the appliance key of the fuzz chain, fixed so that crashers
// saved under testdata/fuzz reproduce.
var fuzzKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x57}, ed25519.SeedSize))

// fuzzSealedAt replaces the sealer's wall-clock sealing time in the
// headers (see genuineProofs).
const fuzzSealedAt = 1_700_000_100_000_000_000

// proofChecks are the links a ProofError may name.
var proofChecks = map[string]bool{"reading": true, "poll signature": true, "merkle proof": true, "header signature": true}

// genuineReading is what the appliance key really signed for one seq.
type genuineReading struct {
	raw                 []byte // canonical reading bytes
	blockID             string
	height              uint64
	applianceID         string
	leafIndex, treeSize uint64
	decoded             []byte // JSON of the decoded reading
}

type proofSet struct {
	pub     ed25519.PublicKey
	bundles []*ProofBundle // one per reading, in seq order
	genuine map[uint64]genuineReading
}

// fuzzPolls are the polls of the fuzz chain, one block per group (at most
// 5 readings a block): block 0 has two polls of 3 and 2 readings of every
// value type and quality, block 1 a single reading, block 2 polls of 4
// and 1.
var fuzzPolls = [][]testPoll{
	{
		{"boiler-1", []protocols.Sample{
			{Point: "temperature", Value: 21.5, Unit: "degC", Quality: protocols.Good, SourceTime: time.Unix(1_699_999_999, 123456789)},
			{Point: "counter", Value: int64(1<<53 + 1), Quality: protocols.Good},
			{Point: "mode", Value: "auto – ü", Quality: protocols.Good},
		}},
		{"press-2", []protocols.Sample{
			{Point: "running", Value: true, Quality: protocols.Uncertain, Reason: "UncertainLastUsableValue (0x40900000)"},
			{Point: "pressure", Unit: "bar", Quality: protocols.Bad, Reason: "BadSensorFailure (0x808C0000)"},
		}},
	},
	{
		{"boiler-1", []protocols.Sample{{Point: "temperature", Value: -0.25, Unit: "degC", Quality: protocols.Good}}},
	},
	{
		{"press-2", []protocols.Sample{
			{Point: "p0", Value: 1.0, Quality: protocols.Good}, {Point: "p1", Value: int64(-7), Quality: protocols.Good},
			{Point: "p2", Value: 1e300, Quality: protocols.Good}, {Point: "p3", Value: "", Quality: protocols.Good},
		}},
		{"boiler-1", []protocols.Sample{{Point: "level", Value: int64(0), Quality: protocols.Good}}},
	},
}

// genuineProofs runs the appliance pipeline (ingest, seal with encryption
// for the owner, the appliance's Prover) with fuzzKey and returns the
// bundle of every reading as a partner receives it.
//
// The sealer stamps headers with the wall clock, so each block header is
// then re-stamped with fuzzSealedAt (and the next header's link to it
// updated) and re-signed with the same key: every other byte of every
// bundle is the appliance's, and the bundles are the same on every run, so
// that inputs saved by one fuzzing run mean the same in the next.
func genuineProofs(tb testing.TB) *proofSet {
	tb.Helper()
	st, owner := sealPolls(tb, fuzzKey, fuzzPolls)
	ps := &proofSet{pub: fuzzKey.Public().(ed25519.PublicKey), genuine: map[uint64]genuineReading{}}
	var prev []byte
	for height := range uint64(len(fuzzPolls)) {
		rec, err := st.Block(height)
		if err != nil {
			tb.Fatal(err)
		}
		h, err := format.ParseHeader(rec.Header)
		if err != nil {
			tb.Fatal(err)
		}
		h.SealedAt = fuzzSealedAt
		if height > 0 {
			h.PrevHash = prev
		}
		hb, err := h.Encode()
		if err != nil {
			tb.Fatal(err)
		}
		sig, id := format.SignHeader(fuzzKey, hb), format.BlockID(hb)
		if prev, err = hex.DecodeString(id); err != nil {
			tb.Fatal(err)
		}
		for seq := rec.FirstSeq; seq <= rec.LastSeq; seq++ {
			b := bundleOf(tb, st, owner, height, seq)
			if _, err := VerifyProof(b, ps.pub); err != nil {
				tb.Fatalf("built bundle of %d: %v", seq, err)
			}
			b.Header, b.HeaderSignature, b.BlockID = hb, sig, id
			if _, err := VerifyProof(b, ps.pub); err != nil {
				tb.Fatalf("bundle of %d with the fixed sealing time: %v", seq, err)
			}
			decoded, err := json.Marshal(b.Decoded)
			if err != nil {
				tb.Fatal(err)
			}
			ps.genuine[seq] = genuineReading{raw: b.Reading, blockID: id, height: height, applianceID: b.ApplianceID,
				leafIndex: b.LeafIndex, treeSize: b.TreeSize, decoded: decoded}
			ps.bundles = append(ps.bundles, b)
		}
	}
	if len(ps.bundles) != 11 {
		tb.Fatalf("%d bundles", len(ps.bundles))
	}
	return ps
}

// FuzzVerifyProof: arbitrary JSON as a partner's proof bundle, checked
// with the appliance's real key. VerifyProof never panics; it fails only
// with a ProofError naming one of the four links; and it accepts only a
// reading the key really signed, byte for byte, under the seq, block id,
// height, appliance and tree position it was sealed with, and with the
// decoded form (what a partner displays) of that reading.
func FuzzVerifyProof(f *testing.F) {
	ps := genuineProofs(f)
	for _, b := range ps.bundles {
		data, err := json.Marshal(b)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	// Readings of one block with the proof of a neighbour, and of another
	// block.
	for _, pair := range [][2]int{{1, 2}, {4, 5}, {5, 6}} {
		b := *ps.bundles[pair[0]]
		o := ps.bundles[pair[1]]
		b.Reading, b.Decoded, b.Seq = o.Reading, o.Decoded, o.Seq
		data, _ := json.Marshal(&b)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var b ProofBundle
		if err := json.Unmarshal(data, &b); err != nil {
			return
		}
		r, err := VerifyProof(&b, ps.pub)
		if err != nil {
			pe, ok := err.(*ProofError)
			if !ok || pe.Err == nil || !proofChecks[pe.Check] {
				t.Fatalf("failure %T %#v is not a ProofError naming a link", err, err)
			}
			if r != nil {
				t.Fatalf("a reading returned with the error %v", err)
			}
			return
		}
		if r == nil {
			t.Fatal("no reading and no error")
		}
		enc, err := r.Encode()
		if err != nil || !bytes.Equal(enc, b.Reading) {
			t.Fatalf("verified reading encodes to %x (%v), the bundle carries %x", enc, err, b.Reading)
		}
		g, ok := ps.genuine[b.Seq]
		if !ok || r.Seq != b.Seq || !bytes.Equal(b.Reading, g.raw) {
			t.Fatalf("accepted reading %x as seq %d (reading's seq %d); the key signed %x", b.Reading, b.Seq, r.Seq, g.raw)
		}
		if b.BlockID != g.blockID || b.Height != g.height || b.ApplianceID != g.applianceID {
			t.Fatalf("reading %d accepted in block %s height %d of %q; it is in %s height %d of %q",
				b.Seq, b.BlockID, b.Height, b.ApplianceID, g.blockID, g.height, g.applianceID)
		}
		if b.LeafIndex != g.leafIndex || b.TreeSize != g.treeSize {
			t.Fatalf("reading %d accepted as leaf %d of %d; it is leaf %d of %d", b.Seq, b.LeafIndex, b.TreeSize, g.leafIndex, g.treeSize)
		}
		if decoded, err := json.Marshal(b.Decoded); err != nil || !bytes.Equal(decoded, g.decoded) {
			t.Fatalf("reading %d accepted with decoded form %s (%v); it is %s", b.Seq, decoded, err, g.decoded)
		}
	})
}

// TestVerifyProofRejectsEveryByteFlip complements
// TestVerifyProofCatchesTampering (one change per field, one position
// each): every single-bit change at every byte of every byte field of
// every genuine bundle, and a changed appliance id, fail with the link
// that field belongs to.
func TestVerifyProofRejectsEveryByteFlip(t *testing.T) {
	ps := genuineProofs(t)
	anyLink := []string{"reading", "poll signature", "merkle proof", "header signature"}
	type field struct {
		name   string
		bytes  func(b *ProofBundle) []byte // aliases the bundle's field
		checks []string
	}
	fields := []field{
		// A changed reading either no longer decodes to its decoded form,
		// seq and block, or is not the leaf its poll signed.
		{"reading", func(b *ProofBundle) []byte { return b.Reading }, []string{"reading", "poll signature"}},
		{"poll", func(b *ProofBundle) []byte { return b.Poll }, []string{"poll signature"}},
		// A changed header may move the block's range or root, so any
		// link may be the first to break.
		{"header", func(b *ProofBundle) []byte { return b.Header }, anyLink},
		{"header signature", func(b *ProofBundle) []byte { return b.HeaderSignature }, []string{"header signature"}},
	}
	for i := range 4 { // polls have at most 4 readings
		fields = append(fields, field{fmt.Sprintf("poll leaf hash %d", i), func(b *ProofBundle) []byte {
			if i < len(b.PollLeafHashes) {
				return b.PollLeafHashes[i]
			}
			return nil
		}, []string{"poll signature"}})
	}
	for i := range 3 { // a tree of 5 leaves: paths of at most 3 hashes
		fields = append(fields, field{fmt.Sprintf("merkle path %d", i), func(b *ProofBundle) []byte {
			if i < len(b.MerklePath) {
				return b.MerklePath[i]
			}
			return nil
		}, []string{"merkle proof"}})
	}
	tried := 0
	for _, b := range ps.bundles {
		for _, fl := range fields {
			n := len(fl.bytes(b))
			for pos := range n {
				for _, bit := range []byte{0x01, 0x80} {
					c := cloneBundle(b)
					fl.bytes(c)[pos] ^= bit
					expectProofError(t, ps, c, fmt.Sprintf("seq %d %s byte %d ^%#x", b.Seq, fl.name, pos, bit), fl.checks)
					tried++
				}
			}
		}
		c := cloneBundle(b)
		c.ApplianceID = "app-2"
		expectProofError(t, ps, c, fmt.Sprintf("seq %d appliance id", b.Seq), []string{"header signature"})
	}
	t.Logf("%d changed bundles rejected", tried)
}

func expectProofError(t *testing.T, ps *proofSet, b *ProofBundle, what string, checks []string) {
	t.Helper()
	r, err := VerifyProof(b, ps.pub)
	pe, ok := err.(*ProofError)
	switch {
	case err == nil:
		t.Fatalf("%s: verified, reading %+v", what, r)
	case !ok:
		t.Fatalf("%s: error %T %v, want a ProofError", what, err, err)
	case !slices.Contains(checks, pe.Check):
		t.Fatalf("%s: failed at %q (%v), want one of %q", what, pe.Check, err, checks)
	}
}

// cloneBundle copies a bundle deeply enough that changing its bytes
// leaves the original intact.
func cloneBundle(b *ProofBundle) *ProofBundle {
	c := *b
	c.Reading, c.Poll = slices.Clone(b.Reading), slices.Clone(b.Poll)
	c.Header, c.HeaderSignature = slices.Clone(b.Header), slices.Clone(b.HeaderSignature)
	c.PollLeafHashes, c.MerklePath = make([][]byte, len(b.PollLeafHashes)), make([][]byte, len(b.MerklePath))
	for i, h := range b.PollLeafHashes {
		c.PollLeafHashes[i] = slices.Clone(h)
	}
	for i, h := range b.MerklePath {
		c.MerklePath[i] = slices.Clone(h)
	}
	return &c
}
