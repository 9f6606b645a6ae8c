// Package block defines a sealed block's body (the readings and the signed
// polls they came in) and opens it against its header (chaincode/format,
// what the appliance signs and the ledger anchors). It has no I/O; seal and
// verify judge blocks with it.
package block

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"

	"github.com/wotchain/wotchain/bridge/merkle"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/chaincode/format"
)

// Body is the plaintext of a block: every reading FirstSeq..LastSeq in
// canonical form, and the signed poll records that cover exactly them.
type Body struct {
	Readings [][]byte `cbor:"1,keyasint"`
	Polls    [][]byte `cbor:"2,keyasint"`
}

// Encode returns the canonical body bytes.
func (b *Body) Encode() ([]byte, error) { return format.Marshal(b) }

// ParseBody decodes body bytes.
func ParseBody(data []byte) (*Body, error) {
	var b Body
	if err := format.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("block body: %w", err)
	}
	return &b, nil
}

// LeafHashes returns the Merkle leaf hash of every reading.
func (b *Body) LeafHashes() [][]byte {
	out := make([][]byte, len(b.Readings))
	for i, r := range b.Readings {
		out[i] = reading.LeafHash(r)
	}
	return out
}

// Opened is a body checked against its header.
type Opened struct {
	Header   *format.Header
	Body     *Body
	Readings []*reading.Reading
	Polls    []*reading.PollRecord
	Tree     *merkle.Tree
}

// Open checks that body is exactly what header describes: the readings'
// Merkle root, sequence and time range, device list, and every poll
// signature under the appliance key. It returns the decoded parts.
func Open(h *format.Header, b *Body, pub ed25519.PublicKey) (*Opened, error) {
	if err := h.Check(); err != nil {
		return nil, err
	}
	if uint64(len(b.Readings)) != h.Count {
		return nil, fmt.Errorf("block %d: body has %d readings, header says %d", h.Height, len(b.Readings), h.Count)
	}
	leaves := b.LeafHashes()
	tree, err := merkle.New(leaves)
	if err != nil {
		return nil, fmt.Errorf("block %d: %w", h.Height, err)
	}
	if !bytes.Equal(tree.Root(), h.MerkleRoot) {
		return nil, fmt.Errorf("block %d: readings' Merkle root does not match the header", h.Height)
	}
	o := &Opened{Header: h, Body: b, Tree: tree}
	devices := map[string]bool{}
	var first, last int64
	for i, raw := range b.Readings {
		r, err := reading.Decode(raw)
		if err != nil {
			return nil, fmt.Errorf("block %d reading %d: %w", h.Height, i, err)
		}
		if r.Seq != h.FirstSeq+uint64(i) || r.ApplianceID != h.ApplianceID {
			return nil, fmt.Errorf("block %d reading %d: seq %d of appliance %q out of place", h.Height, i, r.Seq, r.ApplianceID)
		}
		if i == 0 || r.ApplianceTime < first {
			first = r.ApplianceTime
		}
		if i == 0 || r.ApplianceTime > last {
			last = r.ApplianceTime
		}
		devices[r.DeviceID] = true
		o.Readings = append(o.Readings, r)
	}
	if first != h.FirstTime || last != h.LastTime {
		return nil, fmt.Errorf("block %d: readings' time range does not match the header", h.Height)
	}
	if !slices.Equal(sortedKeys(devices), h.Devices) {
		return nil, fmt.Errorf("block %d: readings' devices do not match the header", h.Height)
	}
	next := h.FirstSeq
	for i, raw := range b.Polls {
		p, err := reading.DecodePoll(raw)
		if err != nil {
			return nil, fmt.Errorf("block %d poll %d: %w", h.Height, i, err)
		}
		if p.FirstSeq != next || p.FirstSeq < h.FirstSeq || p.LastSeq > h.LastSeq || p.ApplianceID != h.ApplianceID {
			return nil, fmt.Errorf("block %d poll %d: covers %d..%d, expected to start at %d", h.Height, i, p.FirstSeq, p.LastSeq, next)
		}
		lo, hi := p.FirstSeq-h.FirstSeq, p.LastSeq-h.FirstSeq+1
		for _, r := range o.Readings[lo:hi] {
			if r.DeviceID != p.DeviceID {
				return nil, fmt.Errorf("block %d: reading %d is from %q but its poll is from %q", h.Height, r.Seq, r.DeviceID, p.DeviceID)
			}
		}
		if err := p.Verify(pub, leaves[lo:hi]); err != nil {
			return nil, fmt.Errorf("block %d: %w", h.Height, err)
		}
		next = p.LastSeq + 1
		o.Polls = append(o.Polls, p)
	}
	if next != h.LastSeq+1 {
		return nil, errors.New("block: poll records do not cover every reading")
	}
	return o, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
