package reading

import (
	"crypto/ed25519"
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

// Resign signs p again with key over its readings' canonical bytes (seq
// order), keys being key's tree: a v1 poll over its leaf hashes; a v2 poll
// over a new poll root, of its leaves salted from keys (the salts come
// from the signing key's tree, so a new key means new salts and a new
// root). The record's readings, device and poll index do not change. It is
// how a block stranded by a key revocation is re-sealed (bridge/reseal).
func (p *PollRecord) Resign(key ed25519.PrivateKey, encoded [][]byte, keys PollKeys) error {
	leaves, err := p.Leaves(encoded, keys)
	if err != nil {
		return err
	}
	var msg []byte
	if p.Version() == PollV2 {
		if p.PollRoot, err = PollRoot(leaves); err != nil {
			return err
		}
		msg, err = p.Statement()
	} else {
		msg, err = p.PollMessage(leaves)
	}
	if err != nil {
		return err
	}
	p.Signature = ed25519.Sign(key, msg)
	return nil
}
