package verify

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
)

// FuzzVerifyProofV2: arbitrary JSON as a partner's v2 proof bundle,
// seeded with the genuine bundles of a v2 chain. VerifyProof never panics,
// fails only with a ProofError naming a link, and accepts only a reading
// the appliance really sealed, byte for byte, under its seq. (Each fuzz
// worker builds its own chain: headers differ in their sealing time, so
// block ids are not compared; readings and the key are the same.)
func FuzzVerifyProofV2(f *testing.F) {
	c := pipelinetest.New(f, pipelinetest.WithApplianceKey(fuzzKey), pipelinetest.WithFormat(2),
		pipelinetest.WithRecipient(keys.KEMX25519))
	c.Anchor(f, 3, 1, 4, 2)
	genuine := map[uint64][]byte{} // seq -> reading bytes
	for seq := uint64(1); seq <= c.LastSeq(); seq++ {
		rec, err := c.Store.BlockForSeq(seq)
		if err != nil {
			f.Fatal(err)
		}
		b, err := proverOf(f, c, rec).Bundle(rec, seq)
		if err != nil {
			f.Fatal(err)
		}
		genuine[seq] = b.Reading
		data, err := json.Marshal(b)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var b ProofBundle
		if err := json.Unmarshal(data, &b); err != nil {
			return
		}
		r, err := VerifyProof(&b, c.Public)
		if err != nil {
			pe, ok := err.(*ProofError)
			if !ok || pe.Err == nil || !proofChecks[pe.Check] || r != nil {
				t.Fatalf("failure %T %#v is not a ProofError naming a link", err, err)
			}
			return
		}
		if !bytes.Equal(b.Reading, genuine[r.Seq]) || r.Seq != b.Seq {
			t.Fatalf("accepted reading %d (bundle seq %d) that the appliance did not seal so", r.Seq, b.Seq)
		}
	})
}
