package license

import (
	"slices"

	"github.com/wotchain/wotchain/chaincode/rules"
)

// Poll is what the licensing decision knows of one poll of a v2 block: its
// device, the device's poll index and the appliance time of its readings
// (all of a v2 poll's readings have the one time).
type Poll struct {
	Device string
	Index  uint64
	Time   int64
}

// Licensed returns the positions, in block order, of the polls of a v2
// block sealed at sealedAt that grant g licenses: the poll's device is one
// of the grant's (any when the grant names none), its time is in
// [g.From, g.To] (inclusive), and the block was sealed before the grant's
// revocation if it is revoked. A poll has one device and one time, so the
// answer is exact whatever the window cuts; nil when none is licensed.
func Licensed(g *rules.Grant, polls []Poll, sealedAt int64) []int {
	if g.RevokedAt != 0 && sealedAt >= g.RevokedAt {
		return nil
	}
	var out []int
	for k, p := range polls {
		if p.Time < g.From || p.Time > g.To {
			continue
		}
		if len(g.Devices) > 0 && !slices.Contains(g.Devices, p.Device) {
			continue
		}
		out = append(out, k)
	}
	return out
}
