package merkle

import (
	"bytes"
	"fmt"
)

// Two-level trees (block format v2): the readings of a poll are the leaves
// of the poll's tree, and the block's tree has one leaf per poll, the RFC
// 6962 leaf hash of the poll's root. A reading is proved by its path in its
// poll's tree followed by its poll's path in the block's tree; the proof
// names no other reading.

// OuterLeaf is the leaf hash an inner tree's root takes in the outer tree:
// SHA-256(0x00 || root).
func OuterLeaf(innerRoot []byte) []byte { return hasher.HashLeaf(innerRoot) }

// NewOuter builds the outer tree over the roots of the inner trees, in order.
func NewOuter(innerRoots [][]byte) (*Tree, error) {
	leaves := make([][]byte, len(innerRoots))
	for i, r := range innerRoots {
		leaves[i] = OuterLeaf(r)
	}
	t, err := New(leaves)
	if err != nil {
		return nil, fmt.Errorf("merkle: outer tree: %w", err)
	}
	return t, nil
}

// NestedProof proves that a leaf hash is leaf Leaf of an inner tree of
// InnerSize leaves, whose root is inner tree Inner of OuterSize under the
// outer root.
type NestedProof struct {
	Leaf      uint64
	InnerSize uint64
	InnerPath [][]byte
	Inner     uint64
	OuterSize uint64
	OuterPath [][]byte
}

// ProveNested returns the proof of leaf j of inner, the inner tree at
// position k of outer.
func ProveNested(inner *Tree, j uint64, outer *Tree, k uint64) (*NestedProof, error) {
	if k >= outer.Size() || !bytes.Equal(outer.levels[0][k], OuterLeaf(inner.Root())) {
		return nil, fmt.Errorf("merkle: tree %d of the outer tree (size %d) is not the inner tree given", k, outer.Size())
	}
	ip, err := inner.Proof(j)
	if err != nil {
		return nil, err
	}
	op, err := outer.Proof(k)
	if err != nil {
		return nil, err
	}
	return &NestedProof{Leaf: j, InnerSize: inner.Size(), InnerPath: ip, Inner: k, OuterSize: outer.Size(), OuterPath: op}, nil
}

// VerifyNested checks that leafHash is in the inner tree with root
// innerRoot (which the caller has checked is signed, e.g. a poll root), and
// that innerRoot is in the outer tree with root root at p's position.
func VerifyNested(leafHash []byte, p *NestedProof, innerRoot, root []byte) error {
	if err := Verify(p.Leaf, p.InnerSize, leafHash, p.InnerPath, innerRoot); err != nil {
		return fmt.Errorf("merkle: leaf %d in its inner tree: %w", p.Leaf, err)
	}
	if err := Verify(p.Inner, p.OuterSize, OuterLeaf(innerRoot), p.OuterPath, root); err != nil {
		return fmt.Errorf("merkle: inner tree %d in the outer tree: %w", p.Inner, err)
	}
	return nil
}
