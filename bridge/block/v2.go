package block

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"slices"

	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/keytree"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/chaincode/format"
)

// PollV2 is one poll of an opened v2 block. Raw, Readings and Key are set
// only for a poll whose key the key set covers (Opened); the record is
// always there, in clear in the object.
type PollV2 struct {
	Record   *reading.PollRecord
	Opened   bool
	Key      [32]byte           // the poll key (salts: keytree.Salt)
	Raw      [][]byte           // canonical reading bytes, seq order
	Readings []*reading.Reading // Raw decoded
	Time     int64              // the appliance time of all its readings
}

// OpenedV2 is a v2 object checked against its header.
type OpenedV2 struct {
	Header *format.Header
	Polls  []PollV2 // in block order
}

// Readings returns the opened polls' readings in seq order.
func (o *OpenedV2) Readings() []*reading.Reading {
	var out []*reading.Reading
	for _, p := range o.Polls {
		out = append(out, p.Readings...)
	}
	return out
}

// OpenV2 opens a v2 object with the block's full key set (the owner's or a
// recipient's) and checks all of it: the header (canonical, version 2, its
// poll count), every poll record (v2, this appliance, seq ranges covering
// the header's range in order, poll indices rising per device), the block
// root over the poll roots, the header's devices and time range; and for
// every poll, its readings (this appliance and device, one appliance time,
// seqs first..last), their salted leaves against the poll root and the
// poll's signature. The header signature and the anchoring are the
// caller's (bridge/verify).
func OpenV2(obj *envelope.ObjectV2, keySet []keytree.Node, pub ed25519.PublicKey, c *envelope.Codec) (*OpenedV2, error) {
	o, err := openV2(obj, keySet, pub, c, true)
	if err != nil {
		return nil, err
	}
	h := o.Header
	first, last := o.Polls[0].Time, o.Polls[0].Time
	for _, p := range o.Polls[1:] {
		first, last = min(first, p.Time), max(last, p.Time)
	}
	if first != h.FirstTime || last != h.LastTime {
		return nil, fmt.Errorf("block %d: readings' time range does not match the header", h.Height)
	}
	return o, nil
}

// OpenV2Partial is OpenV2 for a key set that covers only some polls (a
// partner's deliveries): the polls it covers are opened and checked in
// full, each within the header's time range; the others stay opaque
// (Opened false), judged only by their records.
func OpenV2Partial(obj *envelope.ObjectV2, keySet []keytree.Node, pub ed25519.PublicKey, c *envelope.Codec) (*OpenedV2, error) {
	return openV2(obj, keySet, pub, c, false)
}

func openV2(obj *envelope.ObjectV2, keySet []keytree.Node, pub ed25519.PublicKey, c *envelope.Codec, full bool) (*OpenedV2, error) {
	h, err := format.ParseHeader(obj.Header)
	if err != nil {
		return nil, err
	}
	if h.Version != format.HeaderV2 {
		return nil, fmt.Errorf("block %d: header version %d in a v2 object", h.Height, h.Version)
	}
	if h.Polls != uint64(len(obj.Polls)) {
		return nil, fmt.Errorf("block %d: object has %d polls, header says %d", h.Height, len(obj.Polls), h.Polls)
	}
	o := &OpenedV2{Header: h, Polls: make([]PollV2, len(obj.Polls))}
	if err := o.checkRecords(obj); err != nil {
		return nil, err
	}
	for k := range o.Polls {
		p := &o.Polls[k]
		key, ok := keytree.KeyOf(keySet, p.Record.DeviceID, p.Record.PollIndex)
		if !ok {
			if full {
				return nil, fmt.Errorf("block %d poll %d: the key set does not cover poll %d of %q", h.Height, k, p.Record.PollIndex, p.Record.DeviceID)
			}
			continue
		}
		if err := o.openPoll(obj, k, key, pub, c); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// checkRecords judges what is in clear: the records against the header.
func (o *OpenedV2) checkRecords(obj *envelope.ObjectV2) error {
	h := o.Header
	next := h.FirstSeq
	roots := make([][]byte, len(obj.Polls))
	devices := map[string]bool{}
	lastIndex := map[string]uint64{}
	for k := range obj.Polls {
		r, err := obj.Record(k)
		if err != nil {
			return fmt.Errorf("block %d poll %d: %w", h.Height, k, err)
		}
		if r.Version() != reading.PollV2 {
			return fmt.Errorf("block %d poll %d: a v1 poll record in a v2 block", h.Height, k)
		}
		if r.FirstSeq != next || r.LastSeq > h.LastSeq || r.ApplianceID != h.ApplianceID {
			return fmt.Errorf("block %d poll %d: covers %d..%d of %q, expected to start at %d", h.Height, k, r.FirstSeq, r.LastSeq, r.ApplianceID, next)
		}
		if prev, seen := lastIndex[r.DeviceID]; seen && r.PollIndex <= prev {
			return fmt.Errorf("block %d poll %d: poll index %d of %q after %d", h.Height, k, r.PollIndex, r.DeviceID, prev)
		}
		lastIndex[r.DeviceID] = r.PollIndex
		devices[r.DeviceID] = true
		roots[k] = r.PollRoot
		next = r.LastSeq + 1
		o.Polls[k].Record = r
	}
	if next != h.LastSeq+1 {
		return fmt.Errorf("block %d: poll records do not cover every reading", h.Height)
	}
	root, err := reading.BlockRoot(roots)
	if err != nil {
		return fmt.Errorf("block %d: %w", h.Height, err)
	}
	if !bytes.Equal(root, h.MerkleRoot) {
		return fmt.Errorf("block %d: the poll roots do not give the header's block root", h.Height)
	}
	if !slices.Equal(sortedKeys(devices), h.Devices) {
		return fmt.Errorf("block %d: the polls' devices do not match the header", h.Height)
	}
	return nil
}

// openPoll decrypts poll k and checks it in full against its record.
func (o *OpenedV2) openPoll(obj *envelope.ObjectV2, k int, key [32]byte, pub ed25519.PublicKey, c *envelope.Codec) error {
	h, p := o.Header, &o.Polls[k]
	rec := p.Record
	raw, err := obj.OpenPoll(c, k, keytree.SectionKey(key))
	if err != nil {
		return fmt.Errorf("block %d poll %d: %w", h.Height, k, err)
	}
	if uint64(len(raw)) != rec.LastSeq-rec.FirstSeq+1 {
		return fmt.Errorf("block %d poll %d: %d readings for %d..%d", h.Height, k, len(raw), rec.FirstSeq, rec.LastSeq)
	}
	leaves := make([][]byte, len(raw))
	p.Readings = make([]*reading.Reading, len(raw))
	salts := keytree.NewSalts(key)
	for j, b := range raw {
		r, err := reading.Decode(b)
		if err != nil {
			return fmt.Errorf("block %d poll %d reading %d: %w", h.Height, k, j, err)
		}
		if r.Seq != rec.FirstSeq+uint64(j) || r.ApplianceID != rec.ApplianceID || r.DeviceID != rec.DeviceID {
			return fmt.Errorf("block %d: reading seq %d of %q/%q out of place in poll %d..%d of %q", h.Height, r.Seq, r.ApplianceID, r.DeviceID, rec.FirstSeq, rec.LastSeq, rec.DeviceID)
		}
		if j > 0 && r.ApplianceTime != p.Readings[0].ApplianceTime {
			return fmt.Errorf("block %d: reading %d has another appliance time than its poll", h.Height, r.Seq)
		}
		leaves[j] = reading.SaltedLeafHash(salts.Salt(uint64(j)), b)
		p.Readings[j] = r
	}
	p.Time = p.Readings[0].ApplianceTime
	if p.Time < h.FirstTime || p.Time > h.LastTime {
		return fmt.Errorf("block %d poll %d: appliance time outside the header's range", h.Height, k)
	}
	if err := rec.Verify(pub, leaves); err != nil {
		return fmt.Errorf("block %d: %w", h.Height, err)
	}
	p.Opened, p.Key, p.Raw = true, key, raw
	return nil
}
