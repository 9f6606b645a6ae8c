package rules

import (
	"errors"
	"math/bits"
	"testing"
)

func TestFirstUnanchored(t *testing.T) {
	for _, c := range []struct {
		name          string
		from, end     uint64 // end 0: no bound
		anchoredBelow uint64 // heights below it are anchored
		want          uint64
	}{
		{"nothing anchored", 0, 0, 0, 0},
		{"open, one anchored", 0, 0, 1, 1},
		{"open, many anchored", 0, 0, 1000, 1000},
		{"open, from above the first unanchored", 7, 0, 3, 7},
		{"open, from inside", 5, 0, 77, 77},
		{"bounded, all anchored", 3, 10, 10, 10},
		{"bounded, all anchored and more", 3, 10, 50, 10},
		{"bounded, cut inside", 3, 10, 6, 6},
		{"bounded, none anchored", 3, 10, 0, 3},
		{"bounded, one height", 3, 4, 3, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			probes := 0
			got, err := firstUnanchored(c.from, c.end, func(h uint64) (bool, error) {
				probes++
				return h < c.anchoredBelow, nil
			})
			if err != nil || got != c.want {
				t.Fatalf("got %d, %v; want %d", got, err, c.want)
			}
			// O(log n) reads, not a scan of the chain.
			if limit := 2*bits.Len64(c.anchoredBelow+1) + 2; probes > limit {
				t.Fatalf("%d reads, want at most %d", probes, limit)
			}
		})
	}
	// A chain of a million blocks: a few dozen reads.
	probes := 0
	got, _ := firstUnanchored(0, 0, func(h uint64) (bool, error) { probes++; return h < 1_000_003, nil })
	if got != 1_000_003 || probes > 45 {
		t.Fatalf("million-block chain: %d after %d reads", got, probes)
	}
	boom := errors.New("read failed")
	if _, err := firstUnanchored(0, 0, func(h uint64) (bool, error) { return h < 5, map[bool]error{true: boom}[h == 3] }); !errors.Is(err, boom) {
		t.Fatalf("a failed read: %v", err)
	}
}

func TestApplyCut(t *testing.T) {
	k := func(id string, from, to uint64, cut bool) ApplianceKey {
		return ApplianceKey{ID: id, FromHeight: from, ToHeight: to, Cut: cut, RotatedAt: map[bool]int64{true: 1}[to != 0]}
	}
	for _, c := range []struct {
		name string
		keys []ApplianceKey
		i    int
		at   uint64
		want []ApplianceKey
	}{
		{"current key", []ApplianceKey{k("a", 0, 0, false)}, 0, 5, []ApplianceKey{k("a", 0, 5, true)}},
		{"rotated key to the current", []ApplianceKey{k("a", 0, 9, false), k("b", 9, 0, false)}, 0, 5,
			[]ApplianceKey{k("a", 0, 5, true), k("b", 5, 0, false)}},
		{"keys in between emptied", []ApplianceKey{k("a", 0, 9, false), k("b", 9, 12, false), k("c", 12, 0, false)}, 0, 5,
			[]ApplianceKey{k("a", 0, 5, true), k("b", 5, 5, false), k("c", 5, 0, false)}},
		{"a cut current key stays empty", []ApplianceKey{k("a", 0, 9, false), k("b", 9, 9, true)}, 0, 5,
			[]ApplianceKey{k("a", 0, 5, true), k("b", 5, 5, true)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := &Appliance{Keys: c.keys}
			applyCut(a, c.i, c.at)
			for j, w := range c.want {
				if g := a.Keys[j]; g.FromHeight != w.FromHeight || g.ToHeight != w.ToHeight || g.Cut != w.Cut {
					t.Errorf("key %s: [%d,%d) cut=%v, want [%d,%d) cut=%v", g.ID, g.FromHeight, g.ToHeight, g.Cut, w.FromHeight, w.ToHeight, w.Cut)
				}
			}
		})
	}
}
