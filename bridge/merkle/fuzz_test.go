package merkle

import (
	"bytes"
	"testing"
)

// allNodes returns every node hash of the RFC 6962 tree over data (leaves
// and inner nodes, as mth computes them).
func allNodes(data [][]byte, into map[string]bool) []byte {
	if len(data) == 1 {
		h := mth(data)
		into[string(h)] = true
		return h
	}
	k := 1
	for k*2 < len(data) {
		k *= 2
	}
	allNodes(data[:k], into)
	allNodes(data[k:], into)
	h := mth(data)
	into[string(h)] = true
	return h
}

// FuzzVerify feeds Verify arbitrary indexes, sizes, leaf hashes and proofs
// against the root of a real tree of n leaves. Verify must never panic, and:
//   - at the tree's true size, it accepts only the true leaf at its index
//     with the proof Proof returns, element for element;
//   - at any size, what it accepts as a leaf is a node of the true tree
//     (which is why callers hash the reading themselves with LeafHash: the
//     0x00 leaf prefix keeps an inner node from posing as a reading).
func FuzzVerify(f *testing.F) {
	// Seeds: the genuine proof of a leaf, given as (n, index, size, which
	// leaf, proof bytes concatenated), for several tree shapes.
	for _, c := range []struct{ n, i uint8 }{{1, 0}, {2, 1}, {3, 2}, {5, 4}, {7, 3}, {8, 0}, {13, 6}, {33, 32}} {
		tr, _ := New(leafHashes(leafData(int(c.n))))
		p, _ := tr.Proof(uint64(c.i))
		f.Add(c.n, uint64(c.i), uint64(c.n), c.i, false, bytes.Join(p, nil), uint8(32))
	}
	f.Add(uint8(3), uint64(1), uint64(2), uint8(2), false, []byte{}, uint8(32))
	f.Add(uint8(4), uint64(0), uint64(4), uint8(0), true, bytes.Repeat([]byte{1}, 64), uint8(31))

	f.Fuzz(func(t *testing.T, n uint8, index, size uint64, leaf uint8, leafIsRaw bool, proofBytes []byte, elemLen uint8) {
		if n == 0 || n > 64 {
			return
		}
		data := leafData(int(n))
		hashes := leafHashes(data)
		tr, err := New(hashes)
		if err != nil {
			t.Fatal(err)
		}
		root := tr.Root()

		leafHash := hashes[int(leaf)%len(hashes)]
		if leafIsRaw { // an arbitrary byte string as leaf hash
			leafHash = proofBytes[:min(len(proofBytes), 32)]
		}
		var proof [][]byte
		if elemLen == 0 {
			elemLen = 32
		}
		for b := proofBytes; len(b) > 0; {
			k := min(int(elemLen), len(b))
			proof = append(proof, b[:k])
			b = b[k:]
		}
		if len(proof) > 70 {
			return
		}

		if Verify(index, size, leafHash, proof, root) != nil {
			return
		}
		// Accepted.
		nodes := map[string]bool{}
		allNodes(data, nodes)
		if !nodes[string(leafHash)] {
			t.Fatalf("accepted leaf hash %x that is no node of the tree (index %d size %d)", leafHash, index, size)
		}
		if size != uint64(n) {
			return
		}
		if index >= uint64(n) || !bytes.Equal(leafHash, hashes[index]) {
			t.Fatalf("at the true size %d, leaf hash %x accepted at index %d", n, leafHash, index)
		}
		want, err := tr.Proof(index)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) != len(proof) {
			t.Fatalf("proof of %d elements accepted, the genuine one has %d", len(proof), len(want))
		}
		for i := range want {
			if !bytes.Equal(want[i], proof[i]) {
				t.Fatalf("proof element %d %x accepted, genuine %x", i, proof[i], want[i])
			}
		}
	})
}
