package format

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
)

// Header versions. v1 commits to the readings' leaf hashes in one tree; v2
// (docs/block-format.md, issue #18) commits to salted leaves grouped by
// poll, and says how many polls the block holds. Both stay valid forever:
// blocks already anchored are never rewritten.
const (
	HeaderV1 uint8 = 1
	HeaderV2 uint8 = 2
)

// Header is the signed summary of a block. The block id is the hex SHA-256
// of its canonical encoding, and PrevHash links to the previous block's id,
// so the headers of one appliance form a hash chain.
type Header struct {
	Version     uint8    `cbor:"1,keyasint"`
	ApplianceID string   `cbor:"2,keyasint"`
	Height      uint64   `cbor:"3,keyasint"` // 0 for the appliance's first block
	PrevHash    []byte   `cbor:"4,keyasint"` // SHA-256 of the previous header; empty at height 0
	FirstSeq    uint64   `cbor:"5,keyasint"`
	LastSeq     uint64   `cbor:"6,keyasint"`
	FirstTime   int64    `cbor:"7,keyasint"` // earliest appliance time of a reading, Unix ns
	LastTime    int64    `cbor:"8,keyasint"` // latest
	Devices     []string `cbor:"9,keyasint"` // sorted, unique
	Count       uint64   `cbor:"10,keyasint"`
	// MerkleRoot is, in v1, the RFC 6962 root over the readings' leaf
	// hashes; in v2 the block root: the RFC 6962 root over the polls,
	// each poll's leaf hash being SHA-256(0x00 || poll root).
	MerkleRoot []byte `cbor:"11,keyasint"`
	SealedAt   int64  `cbor:"12,keyasint"`
	// Polls is the number of polls of a v2 block (>= 1); absent in v1,
	// whose encoding is therefore unchanged.
	Polls uint64 `cbor:"13,keyasint,omitempty"`
}

const headerDomain = "wotchain/block-header/v1\x00"

// Encode returns the canonical header bytes.
func (h *Header) Encode() ([]byte, error) { return Marshal(h) }

// BlockID returns the block id for canonical header bytes.
func BlockID(headerBytes []byte) string {
	sum := sha256.Sum256(headerBytes)
	return hex.EncodeToString(sum[:])
}

// SignHeader signs canonical header bytes with the appliance key.
func SignHeader(priv ed25519.PrivateKey, headerBytes []byte) []byte {
	return ed25519.Sign(priv, append([]byte(headerDomain), headerBytes...))
}

// VerifyHeaderSig checks the appliance's signature over canonical header bytes.
func VerifyHeaderSig(pub ed25519.PublicKey, headerBytes, sig []byte) error {
	if len(pub) != ed25519.PublicKeySize {
		return errors.New("appliance public key has the wrong size")
	}
	if !ed25519.Verify(pub, append([]byte(headerDomain), headerBytes...), sig) {
		return errors.New("block header signature is not valid for the appliance key")
	}
	return nil
}

// ParseHeader decodes header bytes, insisting on the canonical encoding and
// on internal consistency, so a header that parses is one the appliance
// could have produced.
func ParseHeader(data []byte) (*Header, error) {
	var h Header
	if err := Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("block header: %w", err)
	}
	again, err := h.Encode()
	if err != nil || !bytes.Equal(again, data) {
		return nil, errors.New("block header: not in canonical encoding")
	}
	if err := h.Check(); err != nil {
		return nil, err
	}
	return &h, nil
}

// Check validates the header's fields against each other.
func (h *Header) Check() error {
	switch {
	case h.Version != HeaderV1 && h.Version != HeaderV2:
		return fmt.Errorf("block header: version %d, want %d or %d", h.Version, HeaderV1, HeaderV2)
	case h.Version == HeaderV1 && h.Polls != 0:
		return fmt.Errorf("block header: version 1 with a poll count (%d)", h.Polls)
	case h.Version == HeaderV2 && h.Polls == 0:
		return errors.New("block header: version 2 without polls")
	case h.Polls > h.Count:
		return fmt.Errorf("block header: %d polls for %d readings", h.Polls, h.Count)
	case h.ApplianceID == "":
		return errors.New("block header: empty appliance id")
	case h.FirstSeq == 0 || h.LastSeq < h.FirstSeq:
		return fmt.Errorf("block header: bad sequence range %d..%d", h.FirstSeq, h.LastSeq)
	case h.Count != h.LastSeq-h.FirstSeq+1:
		return fmt.Errorf("block header: count %d does not match range %d..%d", h.Count, h.FirstSeq, h.LastSeq)
	case h.LastTime < h.FirstTime:
		return fmt.Errorf("block header: time range ends before it starts")
	case len(h.MerkleRoot) != sha256.Size:
		return fmt.Errorf("block header: Merkle root of %d bytes", len(h.MerkleRoot))
	case h.Height == 0 && len(h.PrevHash) != 0:
		return errors.New("block header: first block has a previous hash")
	case h.Height > 0 && len(h.PrevHash) != sha256.Size:
		return fmt.Errorf("block header: block %d has a previous hash of %d bytes", h.Height, len(h.PrevHash))
	case len(h.Devices) == 0:
		return errors.New("block header: no devices")
	}
	if !slices.IsSorted(h.Devices) || len(slices.Compact(slices.Clone(h.Devices))) != len(h.Devices) {
		return errors.New("block header: devices not sorted and unique")
	}
	return nil
}
