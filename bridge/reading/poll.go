package reading

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/wotchain/wotchain/bridge/merkle"
	"github.com/wotchain/wotchain/chaincode/format"
)

// PollRecord is the signed statement "these readings came from this device in
// one poll".
//
// In v1 its signature covers the leaf hashes of readings FirstSeq..LastSeq,
// so a verifier needs every reading of the poll (all of them are sealed into
// the same block; see the seal package).
//
// In v2 (PollRoot set) the poll is one device at one appliance time, has the
// device's PollIndex, and its signature covers PollRoot: the RFC 6962 root
// over the poll's salted leaves (SaltedLeafHash). One reading, its salt and
// its path in the poll's tree then prove the reading without any other.
type PollRecord struct {
	ApplianceID string
	DeviceID    string
	FirstSeq    uint64
	LastSeq     uint64
	Signature   []byte
	PollIndex   uint64 // v2: the device's poll counter, from 0
	PollRoot    []byte // v2: 32 bytes; nil in a v1 record
}

// Poll record versions, as Version reports them.
const (
	PollV1 = 1
	PollV2 = 2
)

// Version is PollV2 for a record with a poll root, PollV1 otherwise.
func (p *PollRecord) Version() int {
	if p.PollRoot != nil {
		return PollV2
	}
	return PollV1
}

// pollWire is the storage form of both versions: keys 1-5 in v1, 1-7 in v2
// (a record with key 7 is v2). The pointer keeps key 6 present in v2 when
// the poll index is 0.
type pollWire struct {
	ApplianceID string  `cbor:"1,keyasint"`
	DeviceID    string  `cbor:"2,keyasint"`
	FirstSeq    uint64  `cbor:"3,keyasint"`
	LastSeq     uint64  `cbor:"4,keyasint"`
	Signature   []byte  `cbor:"5,keyasint"`
	PollIndex   *uint64 `cbor:"6,keyasint,omitempty"`
	PollRoot    []byte  `cbor:"7,keyasint,omitempty"`
}

// pollStatement is what is signed in v1: domain-separated, so a poll
// signature can never be replayed as a block-header signature or the other
// way round.
type pollStatement struct {
	Domain      string   `cbor:"1,keyasint"`
	ApplianceID string   `cbor:"2,keyasint"`
	DeviceID    string   `cbor:"3,keyasint"`
	FirstSeq    uint64   `cbor:"4,keyasint"`
	LastSeq     uint64   `cbor:"5,keyasint"`
	LeafHashes  [][]byte `cbor:"6,keyasint"`
}

// pollStatementV2 is what is signed in v2. Its own domain string keeps v1
// and v2 signatures from standing in for each other.
type pollStatementV2 struct {
	Domain      string `cbor:"1,keyasint"`
	ApplianceID string `cbor:"2,keyasint"`
	DeviceID    string `cbor:"3,keyasint"`
	FirstSeq    uint64 `cbor:"4,keyasint"`
	LastSeq     uint64 `cbor:"5,keyasint"`
	PollIndex   uint64 `cbor:"6,keyasint"`
	PollRoot    []byte `cbor:"7,keyasint"`
}

const (
	pollDomain   = "wotchain/poll/v1"
	pollDomainV2 = "wotchain/poll/v2"
)

// SaltSize is the size of a v2 reading's salt.
const SaltSize = 16

// SaltedLeafHash is a reading's v2 leaf: SHA-256(0x00 || salt || bytes),
// the RFC 6962 leaf over salt || reading bytes. Without the salt, the leaf
// cannot be tested against guesses of the reading.
func SaltedLeafHash(salt [SaltSize]byte, encoded []byte) []byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(salt[:])
	h.Write(encoded)
	return h.Sum(nil)
}

// PollRoot is the RFC 6962 root over a v2 poll's salted leaves in seq order.
func PollRoot(saltedLeaves [][]byte) ([]byte, error) {
	t, err := merkle.New(saltedLeaves)
	if err != nil {
		return nil, fmt.Errorf("poll root: %w", err)
	}
	return t.Root(), nil
}

// BlockRoot is a v2 header's Merkle root: the RFC 6962 root over the
// block's polls in order, each poll's leaf being SHA-256(0x00 || poll
// root). Proofs of a reading in it: merkle.ProveNested and VerifyNested.
func BlockRoot(pollRoots [][]byte) ([]byte, error) {
	t, err := merkle.NewOuter(pollRoots)
	if err != nil {
		return nil, fmt.Errorf("block root: %w", err)
	}
	return t.Root(), nil
}

func (p *PollRecord) size() uint64 { return p.LastSeq - p.FirstSeq + 1 }

// Statement returns the bytes a v2 poll's signature covers: the record's
// fields and its poll root. A v1 record has no statement without its leaf
// hashes (PollMessage).
func (p *PollRecord) Statement() ([]byte, error) {
	if p.Version() != PollV2 {
		return nil, fmt.Errorf("poll %d..%d of device %q: a v1 poll is signed over its leaf hashes", p.FirstSeq, p.LastSeq, p.DeviceID)
	}
	if len(p.PollRoot) != sha256.Size || p.LastSeq < p.FirstSeq {
		return nil, fmt.Errorf("poll %d..%d of device %q: poll root of %d bytes", p.FirstSeq, p.LastSeq, p.DeviceID, len(p.PollRoot))
	}
	return format.Marshal(pollStatementV2{
		Domain: pollDomainV2, ApplianceID: p.ApplianceID, DeviceID: p.DeviceID,
		FirstSeq: p.FirstSeq, LastSeq: p.LastSeq, PollIndex: p.PollIndex, PollRoot: p.PollRoot,
	})
}

// PollMessage returns the bytes signed for a poll of readings with the
// given leaf hashes: in v1 the statement over the hashes; in v2 (salted
// leaves) the Statement, once the hashes are checked to give the record's
// poll root.
func (p *PollRecord) PollMessage(leafHashes [][]byte) ([]byte, error) {
	if p.LastSeq < p.FirstSeq || uint64(len(leafHashes)) != p.size() {
		return nil, fmt.Errorf("poll %d..%d of device %q: %d hashes for the range", p.FirstSeq, p.LastSeq, p.DeviceID, len(leafHashes))
	}
	if p.Version() == PollV2 {
		root, err := PollRoot(leafHashes)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(root, p.PollRoot) {
			return nil, fmt.Errorf("poll %d..%d of device %q: the leaves do not give the poll root", p.FirstSeq, p.LastSeq, p.DeviceID)
		}
		return p.Statement()
	}
	return format.Marshal(pollStatement{
		Domain: pollDomain, ApplianceID: p.ApplianceID, DeviceID: p.DeviceID,
		FirstSeq: p.FirstSeq, LastSeq: p.LastSeq, LeafHashes: leafHashes,
	})
}

// Verify checks the poll signature against the readings' leaf hashes
// (salted leaves for a v2 poll, whose root must be the record's).
func (p *PollRecord) Verify(pub ed25519.PublicKey, leafHashes [][]byte) error {
	msg, err := p.PollMessage(leafHashes)
	if err != nil {
		return err
	}
	return p.verifyMessage(pub, msg)
}

// VerifySignature checks a v2 poll's signature over its Statement, poll
// root included. Whoever then proves a salted leaf against PollRoot
// (merkle.VerifyNested) has proved that reading, knowing no other.
func (p *PollRecord) VerifySignature(pub ed25519.PublicKey) error {
	msg, err := p.Statement()
	if err != nil {
		return err
	}
	return p.verifyMessage(pub, msg)
}

func (p *PollRecord) verifyMessage(pub ed25519.PublicKey, msg []byte) error {
	if len(pub) != ed25519.PublicKeySize {
		return errors.New("appliance public key has the wrong size")
	}
	if !ed25519.Verify(pub, msg, p.Signature) {
		return fmt.Errorf("poll %d..%d of device %q: signature does not match the readings", p.FirstSeq, p.LastSeq, p.DeviceID)
	}
	return nil
}

// EncodePoll and DecodePoll are the storage form of a PollRecord. A v1
// record encodes exactly as before v2 existed.
func EncodePoll(p *PollRecord) ([]byte, error) {
	w := pollWire{ApplianceID: p.ApplianceID, DeviceID: p.DeviceID, FirstSeq: p.FirstSeq, LastSeq: p.LastSeq, Signature: p.Signature}
	if p.Version() == PollV2 {
		if len(p.PollRoot) != sha256.Size {
			return nil, fmt.Errorf("encode poll record: poll root of %d bytes", len(p.PollRoot))
		}
		idx := p.PollIndex
		w.PollIndex, w.PollRoot = &idx, p.PollRoot
	} else if p.PollIndex != 0 {
		return nil, fmt.Errorf("encode poll record: poll index %d without a poll root", p.PollIndex)
	}
	return format.Marshal(w)
}

// DecodePoll reads either version. A v2 record (key 7) must carry its poll
// index and a 32-byte root, and be in canonical encoding: v2 records travel
// in clear inside stored objects, so two byte strings must never claim to
// be the same record. v1 records decode as they always did.
func DecodePoll(data []byte) (*PollRecord, error) {
	var w pollWire
	if err := format.Unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("decode poll record: %w", err)
	}
	if w.LastSeq < w.FirstSeq {
		return nil, fmt.Errorf("decode poll record: range %d..%d is inverted", w.FirstSeq, w.LastSeq)
	}
	p := &PollRecord{ApplianceID: w.ApplianceID, DeviceID: w.DeviceID, FirstSeq: w.FirstSeq, LastSeq: w.LastSeq, Signature: w.Signature}
	switch {
	case w.PollRoot == nil && w.PollIndex != nil:
		return nil, errors.New("decode poll record: poll index without a poll root")
	case w.PollRoot == nil:
		return p, nil
	case w.PollIndex == nil:
		return nil, errors.New("decode poll record: v2 record without a poll index")
	case len(w.PollRoot) != sha256.Size:
		return nil, fmt.Errorf("decode poll record: poll root of %d bytes", len(w.PollRoot))
	}
	p.PollIndex, p.PollRoot = *w.PollIndex, w.PollRoot
	if again, err := EncodePoll(p); err != nil || !bytes.Equal(again, data) {
		return nil, errors.New("decode poll record: v2 record not in canonical encoding")
	}
	return p, nil
}
