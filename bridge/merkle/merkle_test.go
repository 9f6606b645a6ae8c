package merkle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
)

// mth is RFC 6962 section 2.1's Merkle Tree Hash over leaf data, written out
// independently of the package: MTH({d0}) = SHA-256(0x00 || d0), and for
// n > 1, split at k, the largest power of two less than n:
// MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])).
func mth(data [][]byte) []byte {
	n := len(data)
	if n == 1 {
		sum := sha256.Sum256(append([]byte{0}, data[0]...))
		return sum[:]
	}
	k := 1
	for k*2 < n {
		k *= 2
	}
	h := sha256.New()
	h.Write([]byte{1})
	h.Write(mth(data[:k]))
	h.Write(mth(data[k:]))
	return h.Sum(nil)
}

func leafData(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf("reading %d", i))
	}
	return out
}

func leafHashes(data [][]byte) [][]byte {
	out := make([][]byte, len(data))
	for i, d := range data {
		sum := sha256.Sum256(append([]byte{0}, d...))
		out[i] = sum[:]
	}
	return out
}

func TestMTHKnownVector(t *testing.T) {
	// Guards the reference implementation with RFC 6962 test vectors
	// (certificate-transparency's test data: the empty leaf, and the
	// two-leaf tree over the first two leaves of the standard inputs).
	if got := hex.EncodeToString(mth([][]byte{{}})); got != "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d" {
		t.Fatalf("MTH of one empty leaf = %s", got)
	}
	if got := hex.EncodeToString(mth([][]byte{{}, {0x00}})); got != "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125" {
		t.Fatalf("MTH of two leaves = %s", got)
	}
}

func TestRootMatchesRFC6962(t *testing.T) {
	for n := 1; n <= 17; n++ {
		data := leafData(n)
		tr, err := New(leafHashes(data))
		if err != nil {
			t.Fatalf("size %d: %v", n, err)
		}
		if want := mth(data); !bytes.Equal(tr.Root(), want) {
			t.Errorf("size %d: root %x, RFC 6962 MTH %x", n, tr.Root(), want)
		}
		if tr.Size() != uint64(n) {
			t.Errorf("size %d: Size() = %d", n, tr.Size())
		}
	}
}

func TestRootDependsOnOrder(t *testing.T) {
	h := leafHashes(leafData(3))
	a, _ := New(h)
	b, _ := New([][]byte{h[1], h[0], h[2]})
	if bytes.Equal(a.Root(), b.Root()) {
		t.Fatal("swapping two leaves did not change the root")
	}
}

func TestProofs(t *testing.T) {
	for n := 1; n <= 33; n++ {
		hashes := leafHashes(leafData(n))
		tr, err := New(hashes)
		if err != nil {
			t.Fatalf("size %d: %v", n, err)
		}
		root := mth(leafData(n))
		size := uint64(n)
		for i := uint64(0); i < size; i++ {
			proof, err := tr.Proof(i)
			if err != nil {
				t.Fatalf("size %d leaf %d: Proof: %v", n, i, err)
			}
			if err := Verify(i, size, hashes[i], proof, root); err != nil {
				t.Fatalf("size %d leaf %d: valid proof refused: %v", n, i, err)
			}

			modLeaf := append([]byte(nil), hashes[i]...)
			modLeaf[0] ^= 1
			if Verify(i, size, modLeaf, proof, root) == nil {
				t.Errorf("size %d leaf %d: modified leaf accepted", n, i)
			}
			if n > 1 {
				other := (i + 1) % size
				if Verify(other, size, hashes[i], proof, root) == nil {
					t.Errorf("size %d leaf %d: proof accepted at index %d", n, i, other)
				}
				if Verify(i, size, hashes[other], proof, root) == nil {
					t.Errorf("size %d leaf %d: proof accepted for leaf %d's hash", n, i, other)
				}
			}
			if Verify(size, size, hashes[i], proof, root) == nil {
				t.Errorf("size %d leaf %d: index == size accepted", n, i)
			}
			for j := range proof {
				mod := make([][]byte, len(proof))
				copy(mod, proof)
				mod[j] = append([]byte(nil), proof[j]...)
				mod[j][len(mod[j])-1] ^= 0x80
				if Verify(i, size, hashes[i], mod, root) == nil {
					t.Errorf("size %d leaf %d: proof with element %d modified accepted", n, i, j)
				}
			}
			if len(proof) > 0 {
				if Verify(i, size, hashes[i], proof[:len(proof)-1], root) == nil {
					t.Errorf("size %d leaf %d: shortened proof accepted", n, i)
				}
			}
			if Verify(i, size, hashes[i], append(append([][]byte(nil), proof...), root), root) == nil {
				t.Errorf("size %d leaf %d: lengthened proof accepted", n, i)
			}
			badRoot := append([]byte(nil), root...)
			badRoot[3] ^= 1
			if Verify(i, size, hashes[i], proof, badRoot) == nil {
				t.Errorf("size %d leaf %d: modified root accepted", n, i)
			}
		}
		if _, err := tr.Proof(size); err == nil {
			t.Errorf("size %d: Proof for leaf %d (out of range) succeeded", n, size)
		}
	}
}

func TestNewEmpty(t *testing.T) {
	for _, in := range [][][]byte{nil, {}} {
		if tr, err := New(in); err == nil {
			t.Fatalf("New(%v) = %v, want error", in, tr)
		}
	}
}
