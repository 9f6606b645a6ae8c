package verify

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hpke"
	"errors"
	"fmt"
	"sort"

	"github.com/wotchain/wotchain/bridge/block"
	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/keytree"
	"github.com/wotchain/wotchain/bridge/merkle"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/chaincode/format"
)

// KeySetV2 is the key set priv opens in a v2 object: the block's full key
// set when priv is one of the object's recipients (the owner, a listed
// recipient; full is true), else the union of the key sets of the v2
// deliveries for this block (a partner licensed by grants: only its
// granted polls). Deliveries for another block or of the v1 format are
// refused rather than skipped, so a mix-up is reported, not hidden.
func KeySetV2(o *envelope.ObjectV2, priv hpke.PrivateKey, deliveries []*envelope.Delivery) (nodes []keytree.Node, full bool, err error) {
	ks, err := o.KeySet(priv)
	if err == nil {
		nodes, err := keytree.ParseKeySet(ks)
		return nodes, true, err
	}
	if !errors.Is(err, envelope.ErrNotRecipient) || len(deliveries) == 0 {
		return nil, false, err
	}
	id := format.BlockID(o.Header)
	for _, d := range deliveries {
		if d.BlockID != id {
			return nil, false, fmt.Errorf("the key delivery of grant %s is for block %s", d.GrantID, d.BlockID)
		}
		ks, err := o.OpenDeliveryV2(d, priv)
		if err != nil {
			return nil, false, fmt.Errorf("key delivery of grant %s: %w", d.GrantID, err)
		}
		part, err := keytree.ParseKeySet(ks)
		if err != nil {
			return nil, false, fmt.Errorf("key delivery of grant %s: %w", d.GrantID, err)
		}
		// Grants may overlap; keytree.KeyOf takes the first node that
		// covers a poll, so the union needs no merging.
		nodes = append(nodes, part...)
	}
	return nodes, false, nil
}

// pollOf returns the position in o of the poll holding reading seq and its
// record, from the records in clear (ParseV2 checked they follow one
// another).
func pollOf(o *envelope.ObjectV2, seq uint64) (int, *reading.PollRecord, error) {
	k := sort.Search(len(o.Polls), func(i int) bool {
		r, err := o.Record(i)
		return err != nil || r.LastSeq >= seq
	})
	if k == len(o.Polls) {
		return 0, nil, fmt.Errorf("no poll of the block holds reading %d", seq)
	}
	r, err := o.Record(k)
	if err != nil {
		return 0, nil, fmt.Errorf("poll %d: %w", k, err)
	}
	if seq < r.FirstSeq {
		return 0, nil, fmt.Errorf("no poll of the block holds reading %d", seq)
	}
	return k, r, nil
}

// proveV2 checks the links of a v2 block from the object down to reading
// rep.Seq (the header signature and the object hash are checked). It opens
// only the reading's poll: the records in clear and the block root prove
// the block's structure, and the poll's section, salted leaves, root and
// signature prove the reading; the other polls add nothing to that proof,
// and a partner could not open most of them anyway.
func (v *Verifier) proveV2(rep *Report, cred *format.Credential, h *format.Header, pub ed25519.PublicKey, obj []byte, ds []*envelope.Delivery, raw []byte) *Report {
	seq := rep.Seq
	o, err := envelope.ParseV2(obj)
	if err != nil {
		return rep.fail("decrypt", "%v", err)
	}
	if !bytes.Equal(o.Header, cred.Header) || !bytes.Equal(o.HeaderSig, cred.HeaderSig) {
		return rep.fail("decrypt", "the object's header is not the anchored header")
	}
	nodes, full, err := KeySetV2(o, v.Key, ds)
	if err != nil {
		return rep.fail("decrypt", "%v", err)
	}
	k, rec, err := pollOf(o, seq)
	if err != nil {
		return rep.fail("decrypt", "%v", err)
	}
	key, ok := keytree.KeyOf(nodes, rec.DeviceID, rec.PollIndex)
	if !ok {
		return rep.fail("decrypt", "reading %d is in poll %d..%d of %s (poll %d of the device), which your keys do not open: it is not granted to you", seq, rec.FirstSeq, rec.LastSeq, rec.DeviceID, rec.PollIndex)
	}
	src := "the block's full key set"
	if !full {
		src = fmt.Sprintf("the key sets of %d grants", len(ds))
	}
	rep.pass("decrypt", "poll %d of %d (readings %d..%d of %s) opened with %s", k, len(o.Polls), rec.FirstSeq, rec.LastSeq, rec.DeviceID, src)

	// Exactly the reading's poll is opened: a one-node key set.
	one := []keytree.Node{{Device: rec.DeviceID, Level: keytree.Depth, Index: rec.PollIndex, Key: key}}
	if v.codec == nil {
		if v.codec, err = envelope.NewCodec(); err != nil {
			return rep.fail("block contents", "%v", err)
		}
	}
	opened, err := block.OpenV2Partial(o, one, pub, v.codec)
	if err != nil {
		return rep.fail("block contents", "%v", err)
	}
	p := &opened.Polls[k]
	if !p.Opened {
		return rep.fail("block contents", "poll %d did not open", k)
	}
	rep.pass("block contents", "block root over %d poll records, seq ranges and devices match the header; poll %d: %d readings of one time, salted leaves give its signed poll root", len(o.Polls), k, len(p.Raw))

	j := seq - rec.FirstSeq
	inBlock := p.Raw[j]
	if raw != nil && !bytes.Equal(inBlock, raw) {
		return rep.fail("reading in block", "reading %d in the block differs from the appliance's copy", seq)
	}
	if rep.Reading == nil {
		r := p.Readings[j]
		rep.Reading = r
		rep.pass("reading", "seq %d: %s/%s = %v %s (%s) at %s", seq, r.DeviceID, r.Point, r.Value(), r.Unit, r.Quality, r.Time().Format("2006-01-02T15:04:05.000Z07:00"))
	}
	rep.pass("poll signature", "poll %d..%d of %s (its poll %d) signed by the appliance over its poll root", rec.FirstSeq, rec.LastSeq, rec.DeviceID, rec.PollIndex)

	// The reading's path in its poll's tree to the signed poll root. The
	// poll's place under the block root needs no path here: block.OpenV2Partial
	// has rebuilt the block root over every record's poll root, so poll k's
	// root is leaf k of the header's root.
	inner, err := merkle.New(reading.SaltedLeaves(p.Key, p.Raw))
	if err != nil {
		return rep.fail("merkle proof", "%v", err)
	}
	path, err := inner.Proof(j)
	if err != nil {
		return rep.fail("merkle proof", "%v", err)
	}
	leaf := reading.SaltedLeafHash(keytree.Salt(p.Key, j), inBlock)
	if err := merkle.Verify(j, rec.LastSeq-rec.FirstSeq+1, leaf, path, rec.PollRoot); err != nil {
		return rep.fail("merkle proof", "%v", err)
	}
	rep.pass("merkle proof", "salted leaf %d of %d, %d hashes to the poll root; poll %d of the %d under block root %x", j, inner.Size(), len(path), k, h.Polls, h.MerkleRoot)
	return rep
}
