package proof

import (
	"testing"

	"github.com/wotchain/wotchain/chaincode/rules"
)

// A key entry alone (a bundle's) covers the heights of its range; a current
// key cut by its revocation covers none from its cut on.
func TestCovers(t *testing.T) {
	for _, c := range []struct {
		name string
		k    rules.ApplianceKey
		h    uint64
		want bool
	}{
		{"current key", rules.ApplianceKey{FromHeight: 3}, 99, true},
		{"current key, below it", rules.ApplianceKey{FromHeight: 3}, 2, false},
		{"rotated key", rules.ApplianceKey{FromHeight: 3, ToHeight: 5, RotatedAt: 1}, 4, true},
		{"rotated key, past it", rules.ApplianceKey{FromHeight: 3, ToHeight: 5, RotatedAt: 1}, 5, false},
		{"current key cut", rules.ApplianceKey{FromHeight: 3, ToHeight: 5, Cut: true, CompromisedAt: 1}, 4, true},
		{"current key cut, at the cut", rules.ApplianceKey{FromHeight: 3, ToHeight: 5, Cut: true, CompromisedAt: 1}, 5, false},
		{"current key cut at height 0", rules.ApplianceKey{Cut: true, CompromisedAt: 1}, 0, false},
	} {
		if got := covers(c.k, c.h); got != c.want {
			t.Errorf("%s: covers(%d) = %v, want %v", c.name, c.h, got, c.want)
		}
	}
}
