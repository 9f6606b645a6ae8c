package format

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Credential is what the ledger holds for a block: enough to find it, check
// its header, and check the stored object, but none of its data.
type Credential struct {
	BlockID     string   `json:"blockId"`
	ApplianceID string   `json:"applianceId"`
	Height      uint64   `json:"height"`
	PrevBlockID string   `json:"prevBlockId,omitempty"`
	FirstSeq    uint64   `json:"firstSeq"`
	LastSeq     uint64   `json:"lastSeq"`
	FirstTime   int64    `json:"firstTime"`
	LastTime    int64    `json:"lastTime"`
	Devices     []string `json:"devices"`
	Count       uint64   `json:"count"`
	MerkleRoot  string   `json:"merkleRoot"`
	ObjectHash  string   `json:"objectHash"` // hex SHA-256 of the encrypted object
	Location    string   `json:"location"`
	Header      []byte   `json:"header"` // canonical header bytes, so anyone can re-check the signature
	HeaderSig   []byte   `json:"headerSig"`
	SignerMSP   string   `json:"signerMsp"`
	SignerID    string   `json:"signerId"`
	// KeyID is the appliance key that verified the header, set by the
	// contract; AnchoredAt is the transaction time (Unix ns) it recorded the
	// credential at. Both are empty in credentials recorded before key
	// history (issue #14), and neither is part of the signed header.
	KeyID      string `json:"keyId,omitempty"`
	AnchoredAt int64  `json:"anchoredAt,omitempty"`
}

// Submission is what the appliance submits to anchor a block.
type Submission struct {
	Header     []byte `json:"header"`
	HeaderSig  []byte `json:"headerSig"`
	ObjectHash string `json:"objectHash"`
	Location   string `json:"location"`
	// KeyID names the key the appliance signed the header with. Empty from
	// appliances older than key history: the contract then takes the key
	// valid at the block's height.
	KeyID string `json:"keyId,omitempty"`
}

// NewCredential derives the credential of a submission whose header parsed
// as h, anchored by the identity signerMSP/signerID.
func NewCredential(h *Header, sub Submission, signerMSP, signerID string) *Credential {
	c := &Credential{
		BlockID: BlockID(sub.Header), ApplianceID: h.ApplianceID, Height: h.Height,
		FirstSeq: h.FirstSeq, LastSeq: h.LastSeq, FirstTime: h.FirstTime, LastTime: h.LastTime,
		Devices: h.Devices, Count: h.Count, MerkleRoot: hex.EncodeToString(h.MerkleRoot),
		ObjectHash: sub.ObjectHash, Location: sub.Location, Header: sub.Header, HeaderSig: sub.HeaderSig,
		SignerMSP: signerMSP, SignerID: signerID,
	}
	if len(h.PrevHash) > 0 {
		c.PrevBlockID = hex.EncodeToString(h.PrevHash)
	}
	return c
}

// CheckSummary re-derives the credential's summary fields (block id, height,
// ranges, devices, root, previous block) from its header bytes and refuses
// any difference, and a malformed key id or anchoring time. The header's
// signature is not checked here: that needs the appliance's key history
// (verify does it). Clients call it on every
// credential a peer returns, since a peer can answer anything.
func (c *Credential) CheckSummary() error {
	h, err := ParseHeader(c.Header)
	if err != nil {
		return fmt.Errorf("credential %s: %w", c.BlockID, err)
	}
	if c.KeyID != "" {
		if err := CheckKeyID(c.KeyID); err != nil {
			return fmt.Errorf("credential %s: %w", c.BlockID, err)
		}
	}
	if c.AnchoredAt < 0 {
		return fmt.Errorf("credential %s: anchoring time %d before 1970", c.BlockID, c.AnchoredAt)
	}
	want := NewCredential(h, Submission{Header: c.Header, HeaderSig: c.HeaderSig, ObjectHash: c.ObjectHash, Location: c.Location}, c.SignerMSP, c.SignerID)
	// The key and the anchoring time are the contract's, not the header's.
	want.KeyID, want.AnchoredAt = c.KeyID, c.AnchoredAt
	a, err := json.Marshal(want)
	if err != nil {
		return fmt.Errorf("credential %s: %w", c.BlockID, err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("credential %s: %w", c.BlockID, err)
	}
	if !bytes.Equal(a, b) {
		return fmt.Errorf("credential %s: summary fields disagree with its signed header", c.BlockID)
	}
	return nil
}

// Anchored is a credential on the ledger and whether this transaction
// recorded it (false: the identical credential was already there).
type Anchored struct {
	Credential *Credential `json:"credential"`
	Recorded   bool        `json:"recorded"`
}

// Page is one page of a listing.
type Page struct {
	Credentials []*Credential `json:"credentials"`
	Bookmark    string        `json:"bookmark,omitempty"` // pass back for the next page; empty after the last
}

// MaxBatchCount and MaxBatchBytes bound a batch. A Fabric transaction
// carries the submissions (arguments), the credentials (write set, result
// and event) and the device index, about eight to eleven times
// SubmissionSize in all: 512 KiB keeps the worst case near 6 MiB, under the
// orderer's 10 MB AbsoluteMaxBytes of our network and Fabric's 100 MB
// message limits.
const (
	MaxBatchCount = 256
	MaxBatchBytes = 512 << 10
)

// SubmissionSize is what a submission counts against MaxBatchBytes.
func SubmissionSize(sub Submission) int {
	return len(sub.Header) + len(sub.HeaderSig) + len(sub.ObjectHash) + len(sub.Location) + len(sub.KeyID)
}
