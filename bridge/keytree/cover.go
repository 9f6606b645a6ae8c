package keytree

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"sort"
)

// span is a node without device and key.
type span struct {
	level uint8
	index uint64
}

// sortedSet returns the polls sorted, without duplicates, in a new slice.
func sortedSet(polls []uint64) []uint64 {
	ps := slices.Clone(polls)
	slices.Sort(ps)
	return slices.Compact(ps)
}

// cover returns the maximal aligned subtrees of each maximal run of ps
// (sorted, unique, all < MaxPolls), in order. Within a run [a, b] the
// greedy choice, the largest aligned block starting at a that fits, is the
// canonical (and minimal) dyadic decomposition; a node never spans two runs.
func cover(ps []uint64) []span {
	var out []span
	for i := 0; i < len(ps); {
		j := i
		for j+1 < len(ps) && ps[j+1] == ps[j]+1 {
			j++
		}
		for a, b := ps[i], ps[j]; a <= b; {
			k := min(bits.TrailingZeros64(a), Depth) // a = 0 has 64 trailing zeros
			for a+(1<<k)-1 > b {
				k--
			}
			out = append(out, span{level: uint8(Depth - k), index: a >> k})
			a += 1 << k
		}
		i = j + 1
	}
	return out
}

// KeyOf returns the key of the device's poll p from a key set, if a node of
// the set covers it (derived down from that node), and false otherwise.
// Invalid nodes (level > Depth, index >= 2^level) are ignored.
func KeyOf(nodes []Node, device string, p uint64) ([32]byte, bool) {
	if p >= MaxPolls {
		return [32]byte{}, false
	}
	for _, n := range nodes {
		if n.Device == device && n.valid() && p>>(Depth-n.Level) == n.Index {
			return descend(n.Key, n.Level, Depth, p), true
		}
	}
	return [32]byte{}, false
}

// Restrict returns the cover of the device's polls derived from the nodes
// of a key set that cover them: the licensor holds the owner's full key set
// of a block, not the tree secret, and hands a grantee exactly its polls.
// Keys are only derived down, never up: when nodes is itself a minimal cover
// (as from Cover or a block's key set), the result equals Cover of polls;
// when a needed node is split across several nodes of the set, its parts
// are returned instead. It refuses a poll that no node covers and an invalid
// or overlapping set. polls need not be sorted; duplicates are ignored.
func Restrict(nodes []Node, device string, polls []uint64) ([]Node, error) {
	var have []Node
	for _, n := range nodes {
		if n.Device == device {
			have = append(have, n)
		}
	}
	slices.SortFunc(have, compareNodes)
	if err := checkSorted(have); err != nil {
		return nil, fmt.Errorf("keytree: restrict %s: %w", device, err)
	}
	ps := sortedSet(polls)
	if len(ps) > 0 && ps[len(ps)-1] >= MaxPolls {
		return nil, fmt.Errorf("keytree: restrict %s: poll %d is not covered (beyond the tree)", device, ps[len(ps)-1])
	}
	var out []Node
	for _, s := range cover(ps) {
		var err error
		if out, err = restrictSpan(out, have, device, s); err != nil {
			return nil, fmt.Errorf("keytree: restrict %s: %w", device, err)
		}
	}
	return out, nil
}

// restrictSpan appends the node s, derived from the node of have that
// contains it, or else its two halves. have is sorted and disjoint. The
// recursion only splits a span that some node of have lies strictly
// inside, so it stays within 40 levels per node of have.
func restrictSpan(out, have []Node, device string, s span) ([]Node, error) {
	t := Node{Device: device, Level: s.level, Index: s.index}
	a, b := t.First(), t.Last()
	next := sort.Search(len(have), func(i int) bool { return have[i].First() > a })
	if i := next - 1; i >= 0 && have[i].Last() >= b { // an ancestor (or t itself), since aligned ranges nest or are disjoint
		t.Key = descend(have[i].Key, have[i].Level, t.Level, t.Index)
		return append(out, t), nil
	}
	inside := (next-1 >= 0 && have[next-1].Last() >= a) || (next < len(have) && have[next].First() <= b)
	if !inside || s.level == Depth {
		return nil, fmt.Errorf("poll %d is not covered by the key set", a)
	}
	out, err := restrictSpan(out, have, device, span{s.level + 1, 2 * s.index})
	if err != nil {
		return nil, err
	}
	return restrictSpan(out, have, device, span{s.level + 1, 2*s.index + 1})
}

// compareNodes orders a key set: by device, then by first poll (for
// disjoint nodes of one device that is a total order); level breaks ties
// only between overlapping nodes, which checkSorted then refuses.
func compareNodes(x, y Node) int {
	switch {
	case x.Device != y.Device:
		if x.Device < y.Device {
			return -1
		}
		return 1
	case !x.valid() || !y.valid():
		return 0
	case x.First() != y.First():
		if x.First() < y.First() {
			return -1
		}
		return 1
	}
	return int(x.Level) - int(y.Level)
}

var errOverlap = errors.New("nodes overlap or repeat")

// checkSorted checks a key set in key set order: every node valid, and the
// nodes of one device disjoint and in increasing order.
func checkSorted(nodes []Node) error {
	for i, n := range nodes {
		if n.Level > Depth {
			return fmt.Errorf("node %d of %s: level %d > %d", i, n.Device, n.Level, Depth)
		}
		if !n.valid() {
			return fmt.Errorf("node %d of %s: index %d >= 2^%d", i, n.Device, n.Index, n.Level)
		}
		if i == 0 {
			continue
		}
		p := nodes[i-1]
		switch {
		case p.Device > n.Device:
			return fmt.Errorf("node %d: device %q after %q: not in key set order", i, n.Device, p.Device)
		case p.Device == n.Device && p.Last() >= n.First():
			if p.First() > n.First() {
				return fmt.Errorf("node %d of %s: not in key set order", i, n.Device)
			}
			return fmt.Errorf("node %d of %s (%d..%d) and the one before (%d..%d): %w", i, n.Device, n.First(), n.Last(), p.First(), p.Last(), errOverlap)
		}
	}
	return nil
}
