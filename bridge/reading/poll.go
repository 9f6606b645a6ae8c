package reading

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/wotchain/wotchain/chaincode/format"
)

// PollRecord is the signed statement "these readings came from this device in
// one poll". Its signature covers the leaf hashes of readings FirstSeq..LastSeq,
// so a verifier needs every reading of the poll (all of them are sealed into
// the same block; see the seal package).
type PollRecord struct {
	ApplianceID string `cbor:"1,keyasint"`
	DeviceID    string `cbor:"2,keyasint"`
	FirstSeq    uint64 `cbor:"3,keyasint"`
	LastSeq     uint64 `cbor:"4,keyasint"`
	Signature   []byte `cbor:"5,keyasint"`
}

// pollStatement is what is signed: domain-separated, so a poll signature can
// never be replayed as a block-header signature or the other way round.
type pollStatement struct {
	Domain      string   `cbor:"1,keyasint"`
	ApplianceID string   `cbor:"2,keyasint"`
	DeviceID    string   `cbor:"3,keyasint"`
	FirstSeq    uint64   `cbor:"4,keyasint"`
	LastSeq     uint64   `cbor:"5,keyasint"`
	LeafHashes  [][]byte `cbor:"6,keyasint"`
}

const pollDomain = "wotchain/poll/v1"

// PollMessage returns the bytes signed for a poll of readings with the given leaf hashes.
func (p *PollRecord) PollMessage(leafHashes [][]byte) ([]byte, error) {
	if p.LastSeq < p.FirstSeq || uint64(len(leafHashes)) != p.LastSeq-p.FirstSeq+1 {
		return nil, fmt.Errorf("poll %d..%d of device %q: %d hashes for the range", p.FirstSeq, p.LastSeq, p.DeviceID, len(leafHashes))
	}
	return format.Marshal(pollStatement{
		Domain: pollDomain, ApplianceID: p.ApplianceID, DeviceID: p.DeviceID,
		FirstSeq: p.FirstSeq, LastSeq: p.LastSeq, LeafHashes: leafHashes,
	})
}

// Verify checks the poll signature against the readings' leaf hashes.
func (p *PollRecord) Verify(pub ed25519.PublicKey, leafHashes [][]byte) error {
	msg, err := p.PollMessage(leafHashes)
	if err != nil {
		return err
	}
	if len(pub) != ed25519.PublicKeySize {
		return errors.New("appliance public key has the wrong size")
	}
	if !ed25519.Verify(pub, msg, p.Signature) {
		return fmt.Errorf("poll %d..%d of device %q: signature does not match the readings", p.FirstSeq, p.LastSeq, p.DeviceID)
	}
	return nil
}

// EncodePoll and DecodePoll are the storage form of a PollRecord.
func EncodePoll(p *PollRecord) ([]byte, error) { return format.Marshal(p) }

func DecodePoll(data []byte) (*PollRecord, error) {
	var p PollRecord
	if err := format.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("decode poll record: %w", err)
	}
	if p.LastSeq < p.FirstSeq {
		return nil, fmt.Errorf("decode poll record: range %d..%d is inverted", p.FirstSeq, p.LastSeq)
	}
	return &p, nil
}
