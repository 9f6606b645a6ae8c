package reading

import (
	"fmt"

	"github.com/wotchain/wotchain/bridge/keytree"
)

// PollKeys gives the key of a device's p-th poll; *keytree.Tree (from the
// signing key) is one.
type PollKeys interface {
	PollKey(device string, p uint64) [32]byte
}

// SaltedLeaves returns the v2 leaves of a poll's readings (canonical bytes
// in seq order) under its poll key: reading j is salted with
// keytree.Salt(pollKey, j).
func SaltedLeaves(pollKey [32]byte, encoded [][]byte) [][]byte {
	out := make([][]byte, len(encoded))
	salts := keytree.NewSalts(pollKey)
	for j, e := range encoded {
		out[j] = SaltedLeafHash(salts.Salt(uint64(j)), e)
	}
	return out
}

// Leaves returns the leaf hashes p's signature covers, from its readings'
// canonical bytes in seq order: LeafHash of each for a v1 poll (keys may be
// nil), the salted leaves of its poll key for a v2 poll. It is what a
// store reader needs for a stored poll of either version.
func (p *PollRecord) Leaves(encoded [][]byte, keys PollKeys) ([][]byte, error) {
	if p.LastSeq < p.FirstSeq || uint64(len(encoded)) != p.size() {
		return nil, fmt.Errorf("poll %d..%d of device %q: %d readings for the range", p.FirstSeq, p.LastSeq, p.DeviceID, len(encoded))
	}
	if p.Version() == PollV1 {
		out := make([][]byte, len(encoded))
		for i, e := range encoded {
			out[i] = LeafHash(e)
		}
		return out, nil
	}
	if keys == nil {
		return nil, fmt.Errorf("poll %d of device %q: a v2 poll's leaves need its poll key", p.PollIndex, p.DeviceID)
	}
	if p.PollIndex >= keytree.MaxPolls {
		return nil, fmt.Errorf("poll %d of device %q: index beyond the key tree", p.PollIndex, p.DeviceID)
	}
	return SaltedLeaves(keys.PollKey(p.DeviceID, p.PollIndex), encoded), nil
}
