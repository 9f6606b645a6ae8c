// Package verify proves one reading end to end, link by link: the reading's
// poll signature, its Merkle path to the block root, the block header's
// signature, the stored object's hash, and the credential on the ledger.
// Each link is a named check; the first broken link stops the proof.
//
// Both block formats are proved: v1 (one data key, the block's one Merkle
// tree) and v2 (one section per poll; a partner's deliveries open only its
// granted polls; a reading's salted leaf is proved to its poll root and
// the poll root to the block root). The format follows the signed header's
// version, so a v1 store upgraded in place keeps verifying its v1 blocks.
package verify

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hpke"
	"fmt"

	"github.com/wotchain/wotchain/bridge/block"
	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/merkle"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// Ledger is where credentials and appliance keys are read from.
type Ledger interface {
	Credential(ctx context.Context, blockID string) (*format.Credential, error)
	Appliance(ctx context.Context, id string) (*rules.Appliance, error)
}

// Storage returns stored objects as they are.
type Storage interface {
	Get(ctx context.Context, location string) ([]byte, error)
}

// Check is one link of the proof.
type Check struct {
	Name   string
	OK     bool
	Detail string
}

// Report is the outcome of a verification.
type Report struct {
	Seq     uint64
	Reading *reading.Reading
	Checks  []Check
}

// OK is true when every check passed.
func (r *Report) OK() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return len(r.Checks) > 0
}

func (r *Report) pass(name, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, OK: true, Detail: fmt.Sprintf(format, args...)})
}

func (r *Report) fail(name, format string, args ...any) *Report {
	r.Checks = append(r.Checks, Check{Name: name, OK: false, Detail: fmt.Sprintf(format, args...)})
	return r
}

// Verifier holds what a proof needs: the appliance's store (to find the
// reading and its block), the ledger, the storage and a recipient key.
// A Verifier is for one goroutine at a time (it keeps v2's section codec).
type Verifier struct {
	Store   *store.Store
	Ledger  Ledger
	Storage Storage
	Key     hpke.PrivateKey

	codec *envelope.Codec // made at the first v2 block
}

// Reading proves reading seq. The returned report lists each check; an
// error is returned only when the proof could not be attempted at all.
func (v *Verifier) Reading(ctx context.Context, seq uint64) *Report {
	rep := &Report{Seq: seq}
	raw, err := v.Store.Reading(seq)
	if err != nil {
		return rep.fail("reading", "%v", err)
	}
	r, err := reading.Decode(raw)
	if err != nil {
		return rep.fail("reading", "stored reading %d: %v", seq, err)
	}
	rep.Reading = r
	rep.pass("reading", "seq %d: %s/%s = %v %s (%s) at %s", seq, r.DeviceID, r.Point, r.Value(), r.Unit, r.Quality, r.Time().Format("2006-01-02T15:04:05.000Z07:00"))

	rec, err := v.Store.BlockForSeq(seq)
	if err != nil {
		return rep.fail("block", "%v", err)
	}
	rep.pass("block", "sealed in block %d (%s)", rec.Height, rec.BlockID)

	cred, err := v.Ledger.Credential(ctx, rec.BlockID)
	if err != nil {
		return rep.fail("credential", "block %s on the ledger: %v", rec.BlockID, err)
	}
	if format.BlockID(cred.Header) != rec.BlockID || seq < cred.FirstSeq || seq > cred.LastSeq {
		return rep.fail("credential", "credential for %s does not cover reading %d with that header", rec.BlockID, seq)
	}
	rep.pass("credential", "anchored by %s: object %s at %s", rules.IdentityName(cred.SignerMSP, cred.SignerID), cred.ObjectHash, cred.Location)
	obj, err := v.Storage.Get(ctx, cred.Location)
	if err != nil {
		return rep.fail("stored object", "%v", err)
	}
	return v.prove(ctx, rep, cred, obj, nil, raw)
}

// Fetched proves reading seq of block blockID from what a partner fetched:
// the object bytes and, when the partner is licensed by grants rather than
// listed as a recipient, the key deliveries: for a v1 block its one v1
// delivery, for a v2 block one v2 delivery per grant (only the granted
// polls open). The ledger supplies the credential and the appliance key.
func (v *Verifier) Fetched(ctx context.Context, blockID string, obj []byte, ds []*envelope.Delivery, seq uint64) *Report {
	rep := &Report{Seq: seq}
	cred, err := v.Ledger.Credential(ctx, blockID)
	if err != nil {
		return rep.fail("credential", "block %s on the ledger: %v", blockID, err)
	}
	if format.BlockID(cred.Header) != blockID || seq < cred.FirstSeq || seq > cred.LastSeq {
		return rep.fail("credential", "credential for %s does not cover reading %d with that header", blockID, seq)
	}
	rep.pass("credential", "block %d of %s anchored by %s: object %s", cred.Height, cred.ApplianceID, rules.IdentityName(cred.SignerMSP, cred.SignerID), cred.ObjectHash)
	for _, d := range ds {
		if d.BlockID != blockID {
			return rep.fail("decrypt", "the key delivery is for block %s", d.BlockID)
		}
	}
	return v.prove(ctx, rep, cred, obj, ds, nil)
}

// checkSigner runs the "header signature" and "signing key" links: the
// block's key from the appliance's key history (never simply its current
// key), the header's signature under it, and the revocation rule. It
// returns the key and the parsed header, or a nil header after a failed link.
func (v *Verifier) checkSigner(ctx context.Context, rep *Report, cred *format.Credential) (rules.ApplianceKey, *format.Header) {
	app, err := v.Ledger.Appliance(ctx, cred.ApplianceID)
	if err != nil {
		rep.fail("header signature", "appliance %s: %v", cred.ApplianceID, err)
		return rules.ApplianceKey{}, nil
	}
	key, err := KeyOf(app, cred.KeyID, cred.Height)
	if err != nil {
		rep.fail("header signature", "%v", err)
		return rules.ApplianceKey{}, nil
	}
	if err := format.VerifyHeaderSig(ed25519.PublicKey(key.PublicKey), cred.Header, cred.HeaderSig); err != nil {
		rep.fail("header signature", "%v (key %s of appliance %s)", err, key.ID, cred.ApplianceID)
		return rules.ApplianceKey{}, nil
	}
	h, err := format.ParseHeader(cred.Header)
	if err != nil {
		rep.fail("header signature", "%v", err)
		return rules.ApplianceKey{}, nil
	}
	rep.pass("header signature", "block %d header signed by key %s of appliance %s (%s)", h.Height, key.ID, cred.ApplianceID, KeyValidity(key))
	ok, detail := CheckSigningKey(key, cred.AnchoredAt)
	if !ok {
		rep.fail("signing key", "%s", detail)
		return rules.ApplianceKey{}, nil
	}
	rep.pass("signing key", "%s", detail)
	return key, h
}

// prove checks the links from the credential down to reading rep.Seq. raw,
// when not nil, is the appliance's own copy of the reading, which must be
// the one in the block.
func (v *Verifier) prove(ctx context.Context, rep *Report, cred *format.Credential, obj []byte, ds []*envelope.Delivery, raw []byte) *Report {
	key, h := v.checkSigner(ctx, rep, cred)
	if h == nil {
		return rep
	}
	pub := ed25519.PublicKey(key.PublicKey)

	if got := envelope.Hash(obj); got != cred.ObjectHash {
		return rep.fail("stored object", "object from %s hashes to %s but the ledger anchored %s: the stored block was altered or replaced", cred.Location, got, cred.ObjectHash)
	}
	rep.pass("stored object", "%d bytes from %s hash to the anchored %s", len(obj), cred.Location, cred.ObjectHash)
	if h.Version == format.HeaderV2 {
		return v.proveV2(rep, cred, h, pub, obj, ds, raw)
	}
	var d *envelope.Delivery
	switch len(ds) {
	case 0:
	case 1:
		if d = ds[0]; d.Format != envelope.DeliveryFormat {
			return rep.fail("decrypt", "a %s key delivery for a v1 block", d.Format)
		}
	default:
		return rep.fail("decrypt", "%d key deliveries for a v1 block, which has one data key", len(ds))
	}

	o, err := envelope.Parse(obj)
	if err != nil {
		return rep.fail("decrypt", "%v", err)
	}
	if !bytes.Equal(o.Header, cred.Header) || !bytes.Equal(o.HeaderSig, cred.HeaderSig) {
		return rep.fail("decrypt", "the object's header is not the anchored header")
	}
	var plain []byte
	if d != nil {
		plain, err = o.OpenDelivered(d, v.Key)
	} else {
		plain, err = o.Open(v.Key)
	}
	if err != nil {
		return rep.fail("decrypt", "%v", err)
	}
	body, err := block.ParseBody(plain)
	if err != nil {
		return rep.fail("decrypt", "%v", err)
	}
	rep.pass("decrypt", "%d readings, %d polls", len(body.Readings), len(body.Polls))

	opened, err := block.Open(h, body, pub)
	if err != nil {
		return rep.fail("block contents", "%v", err)
	}
	rep.pass("block contents", "Merkle root, ranges, devices and all %d poll signatures match the header", len(opened.Polls))

	seq := rep.Seq
	idx := seq - h.FirstSeq
	inBlock := body.Readings[idx]
	if raw != nil && !bytes.Equal(inBlock, raw) {
		return rep.fail("reading in block", "reading %d in the block differs from the appliance's copy", seq)
	}
	if rep.Reading == nil {
		r := opened.Readings[idx]
		rep.Reading = r
		rep.pass("reading", "seq %d: %s/%s = %v %s (%s) at %s", seq, r.DeviceID, r.Point, r.Value(), r.Unit, r.Quality, r.Time().Format("2006-01-02T15:04:05.000Z07:00"))
	}
	for _, p := range opened.Polls {
		if seq >= p.FirstSeq && seq <= p.LastSeq {
			rep.pass("poll signature", "poll %d..%d of %s signed by the appliance (key %s)", p.FirstSeq, p.LastSeq, p.DeviceID, key.ID)
		}
	}
	proof, err := opened.Tree.Proof(idx)
	if err != nil {
		return rep.fail("merkle proof", "%v", err)
	}
	if err := merkle.Verify(idx, h.Count, reading.LeafHash(inBlock), proof, h.MerkleRoot); err != nil {
		return rep.fail("merkle proof", "%v", err)
	}
	rep.pass("merkle proof", "leaf %d of %d, %d hashes to root %x", idx, h.Count, len(proof), h.MerkleRoot)
	return rep
}
