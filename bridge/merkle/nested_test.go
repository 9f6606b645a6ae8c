package merkle

import (
	"bytes"
	"fmt"
	"testing"
)

// groups returns inner trees of the given sizes over distinct leaf data,
// the data, and the trees.
func groups(t *testing.T, sizes ...int) ([][][]byte, []*Tree) {
	t.Helper()
	var data [][][]byte
	var trees []*Tree
	for k, n := range sizes {
		d := make([][]byte, n)
		for j := range d {
			d[j] = fmt.Appendf(nil, "poll %d reading %d", k, j)
		}
		tr, err := New(leafHashes(d))
		if err != nil {
			t.Fatal(err)
		}
		data, trees = append(data, d), append(trees, tr)
	}
	return data, trees
}

// The outer root is RFC 6962's Merkle Tree Hash over the inner roots as
// leaf data, and every leaf of every inner tree proves against it.
func TestNestedRootAndProofs(t *testing.T) {
	for _, sizes := range [][]int{{1}, {3}, {1, 1}, {2, 5, 1}, {4, 4, 4, 4, 1}, {7, 1, 3, 8, 2, 6}} {
		data, trees := groups(t, sizes...)
		var roots [][]byte
		for k, tr := range trees {
			if !bytes.Equal(tr.Root(), mth(data[k])) {
				t.Fatalf("%v: inner root %d is not the MTH of its data", sizes, k)
			}
			roots = append(roots, tr.Root())
		}
		outer, err := NewOuter(roots)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(outer.Root(), mth(roots)) {
			t.Fatalf("%v: outer root %x, MTH over the inner roots %x", sizes, outer.Root(), mth(roots))
		}
		for k, tr := range trees {
			for j := range sizes[k] {
				p, err := ProveNested(tr, uint64(j), outer, uint64(k))
				if err != nil {
					t.Fatalf("%v: prove %d/%d: %v", sizes, k, j, err)
				}
				leaf := leafHashes(data[k][j : j+1])[0]
				if err := VerifyNested(leaf, p, tr.Root(), outer.Root()); err != nil {
					t.Fatalf("%v: proof %d/%d refused: %v", sizes, k, j, err)
				}
			}
		}
	}
}

// Sizes are inputs the verifier takes from signed records (the poll's seq
// range, the header's poll count), not from the proof: RFC 6962 paths of
// the same shape verify under several sizes, so the cases below change a
// size to one whose path has another shape.
func TestNestedProofRefused(t *testing.T) {
	data, trees := groups(t, 3, 5, 2)
	roots := [][]byte{trees[0].Root(), trees[1].Root(), trees[2].Root()}
	outer, err := NewOuter(roots)
	if err != nil {
		t.Fatal(err)
	}
	leaf := leafHashes(data[1][2:3])[0]
	good, err := ProveNested(trees[1], 2, outer, 1)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte) []byte { c := bytes.Clone(b); c[7] ^= 1; return c }
	clone := func() *NestedProof {
		c := *good
		c.InnerPath, c.OuterPath = append([][]byte(nil), good.InnerPath...), append([][]byte(nil), good.OuterPath...)
		return &c
	}
	cases := []struct {
		name                  string
		leaf                  []byte
		p                     *NestedProof
		innerRoot, outerRoots []byte
	}{
		{"leaf flipped", flip(leaf), good, roots[1], outer.Root()},
		{"other leaf of the poll", leafHashes(data[1][3:4])[0], good, roots[1], outer.Root()},
		{"inner root of another tree", leaf, good, roots[0], outer.Root()},
		{"inner root flipped", leaf, good, flip(roots[1]), outer.Root()},
		{"outer root flipped", leaf, good, roots[1], flip(outer.Root())},
		{"inner path flipped", leaf, func() *NestedProof { c := clone(); c.InnerPath[0] = flip(c.InnerPath[0]); return c }(), roots[1], outer.Root()},
		{"outer path flipped", leaf, func() *NestedProof { c := clone(); c.OuterPath[1] = flip(c.OuterPath[1]); return c }(), roots[1], outer.Root()},
		{"leaf index moved", leaf, func() *NestedProof { c := clone(); c.Leaf = 3; return c }(), roots[1], outer.Root()},
		{"inner position moved", leaf, func() *NestedProof { c := clone(); c.Inner = 0; return c }(), roots[1], outer.Root()},
		{"inner size changed", leaf, func() *NestedProof { c := clone(); c.InnerSize = 3; return c }(), roots[1], outer.Root()},
		{"outer size changed", leaf, func() *NestedProof { c := clone(); c.OuterSize = 5; return c }(), roots[1], outer.Root()},
		{"leaf outside the inner tree", leaf, func() *NestedProof { c := clone(); c.Leaf = 5; return c }(), roots[1], outer.Root()},
		{"outer path short", leaf, func() *NestedProof { c := clone(); c.OuterPath = c.OuterPath[:1]; return c }(), roots[1], outer.Root()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := VerifyNested(c.leaf, c.p, c.innerRoot, c.outerRoots); err == nil {
				t.Fatal("VerifyNested accepted")
			}
		})
	}
	// The inner tree must be the one at the position asked for.
	if _, err := ProveNested(trees[0], 0, outer, 1); err == nil {
		t.Fatal("ProveNested accepted an inner tree at another tree's position")
	}
	if _, err := ProveNested(trees[1], 0, outer, 3); err == nil {
		t.Fatal("ProveNested accepted a position outside the outer tree")
	}
	if _, err := NewOuter(nil); err == nil {
		t.Fatal("NewOuter accepted no inner trees")
	}
}
