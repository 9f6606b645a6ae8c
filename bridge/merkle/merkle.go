// Package merkle builds the Merkle tree over a block's readings and its
// inclusion proofs, and the two-level trees of block format v2 (readings in
// their poll's tree, polls in the block's: nested.go). The tree is RFC 6962's (the Certificate Transparency
// tree), so a partner can check a proof with any RFC 6962 implementation;
// hashing and proof verification come from transparency-dev/merkle.
package merkle

import (
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

var hasher = rfc6962.DefaultHasher

// Tree holds every perfect subtree's hash level by level: levels[0] are the
// leaf hashes, levels[k][i] covers leaves [i<<k, (i+1)<<k).
type Tree struct {
	levels [][][]byte
	root   []byte
}

// New builds the tree over leaf hashes (see reading.LeafHash).
func New(leafHashes [][]byte) (*Tree, error) {
	if len(leafHashes) == 0 {
		return nil, errors.New("merkle: a tree needs at least one leaf")
	}
	t := &Tree{levels: [][][]byte{leafHashes}}
	for cur := leafHashes; len(cur) > 1; {
		next := make([][]byte, 0, len(cur)/2)
		for i := 0; i+1 < len(cur); i += 2 {
			next = append(next, hasher.HashChildren(cur[i], cur[i+1]))
		}
		t.levels = append(t.levels, next)
		cur = next
	}
	rf := compact.RangeFactory{Hash: hasher.HashChildren}
	r, err := rf.NewRange(0, 0, nil)
	if err != nil {
		return nil, err
	}
	for _, h := range leafHashes {
		if err := r.Append(h, nil); err != nil {
			return nil, err
		}
	}
	if t.root, err = r.GetRootHash(nil); err != nil {
		return nil, err
	}
	return t, nil
}

// Root is the tree's root hash.
func (t *Tree) Root() []byte { return t.root }

// Size is the number of leaves.
func (t *Tree) Size() uint64 { return uint64(len(t.levels[0])) }

// Proof returns the inclusion proof of leaf index.
func (t *Tree) Proof(index uint64) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, t.Size())
	if err != nil {
		return nil, fmt.Errorf("merkle: proof for leaf %d of %d: %w", index, t.Size(), err)
	}
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		// Proof nodes are always roots of perfect subtrees, which New kept.
		if int(id.Level) >= len(t.levels) || id.Index >= uint64(len(t.levels[id.Level])) {
			return nil, fmt.Errorf("merkle: node %d/%d missing", id.Level, id.Index)
		}
		hashes[i] = t.levels[id.Level][id.Index]
	}
	return nodes.Rehash(hashes, hasher.HashChildren)
}

// Verify checks that leafHash is leaf index of a tree of size leaves with the given root.
func Verify(index, size uint64, leafHash []byte, proofHashes [][]byte, root []byte) error {
	if index >= size {
		return fmt.Errorf("merkle: leaf %d outside a tree of %d", index, size)
	}
	return proof.VerifyInclusion(hasher, index, size, leafHash, proofHashes, root)
}
