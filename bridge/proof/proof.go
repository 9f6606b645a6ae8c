// Package proof checks a proof bundle of one reading offline: the reading,
// its poll's signature, its Merkle path to the block root, the block
// header's signature and the signing key's history entry. It does no I/O
// and links no store, so it also compiles to WebAssembly for the partner's
// offline verifier (appliance/cmd/verifywasm); bridge/verify builds the
// bundles and proves readings end to end on the appliance.
package proof

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"

	"github.com/wotchain/wotchain/bridge/merkle"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// Bundle is everything needed to check one reading offline against the
// appliance's public key. Byte fields are base64 in JSON.
//
// For a v1 block: the reading, the signed poll it came in with the leaf
// hashes of all that poll's readings, its Merkle inclusion proof, and the
// signed block header holding the root.
//
// For a v2 block (Version 2): the reading, its salt, the signed poll record
// v2, the reading's path in its poll's tree, the poll's position in the
// block and its path in the block's tree, and the signed header: nothing of
// any other reading but the hashes on the two paths, which are salted
// leaves and inner nodes no guess of a reading can be tested against. Its
// JSON carries only those fields (MarshalJSON); the v1 fields are absent.
//
// ObjectHash and Location are what the ledger credential of BlockID binds
// to the header; checking the credential on the ledger is the partner's
// last step and is outside the bundle.
type Bundle struct {
	ApplianceID string `json:"appliance_id"`
	BlockID     string `json:"block_id"` // hex SHA-256 of Header
	Height      uint64 `json:"height"`
	Seq         uint64 `json:"seq"`
	// Reading is the reading's canonical CBOR; Decoded is the same reading
	// as JSON, for convenience (Verify checks they agree).
	Reading []byte       `json:"reading"`
	Decoded reading.JSON `json:"decoded"`
	// Poll is the signed poll record (CBOR); PollLeafHashes are the leaf
	// hashes of its readings FirstSeq..LastSeq, which its signature covers.
	Poll           []byte   `json:"poll"`
	PollLeafHashes [][]byte `json:"poll_leaf_hashes"`
	// LeafIndex and TreeSize place the reading in the block's RFC 6962
	// tree; MerklePath is its inclusion proof.
	LeafIndex  uint64   `json:"leaf_index"`
	TreeSize   uint64   `json:"tree_size"`
	MerklePath [][]byte `json:"merkle_path"`
	// Header is the canonical block header, HeaderSignature the appliance's
	// signature over it.
	Header          []byte `json:"header"`
	HeaderSignature []byte `json:"header_signature"`
	ObjectHash      string `json:"object_hash"`
	Location        string `json:"location,omitempty"`
	State           string `json:"state"`

	// v2 only. Version is 2; absent (0) for a v1 bundle, whose JSON is
	// unchanged. Salt is the reading's 16-byte salt, PollPath its path in
	// its poll's tree (Poll's root; the leaf index is Seq minus the poll's
	// first seq, the tree size the poll's reading count), PollPosition the
	// poll's position in the block and BlockPath its path in the block's
	// tree (Header's block root over Header's poll count). A verifier takes
	// every index and size from the signed record and header, never from
	// the bundle.
	Version      int      `json:"version,omitempty"`
	Salt         []byte   `json:"salt,omitempty"`
	PollPath     [][]byte `json:"poll_path,omitempty"`
	PollPosition uint64   `json:"poll_position,omitempty"`
	BlockPath    [][]byte `json:"block_path,omitempty"`

	// Key history (issue #14), both formats. SigningKey is the ledger's
	// history entry of the key that signed the header and the polls (its
	// id, public key, heights, and registration, rotation and revocation
	// times); AnchoredAt is the block credential's anchoring time (Unix
	// ns), which the revocation rule compares with the key's compromise
	// time. Both are absent from bundles made before key history or
	// without the ledger: those are checked against a key the verifier
	// supplies (Verify), as before.
	SigningKey *rules.ApplianceKey `json:"signing_key,omitempty"`
	AnchoredAt int64               `json:"anchored_at,omitempty"`
}

// BundleV2 is the version of a v2 block's bundle.
const BundleV2 = 2

// bundleV1 has Bundle's fields without its methods.
type bundleV1 Bundle

// bundleV2 is a v2 bundle's JSON: exactly what V2-SPEC section 6
// lists, plus the block's identity and ledger state, and its signing key.
type bundleV2 struct {
	ApplianceID     string       `json:"appliance_id"`
	BlockID         string       `json:"block_id"`
	Height          uint64       `json:"height"`
	Seq             uint64       `json:"seq"`
	Version         int          `json:"version"`
	Reading         []byte       `json:"reading"`
	Decoded         reading.JSON `json:"decoded"`
	Salt            []byte       `json:"salt"`
	Poll            []byte       `json:"poll"`
	PollPath        [][]byte     `json:"poll_path"`
	PollPosition    uint64       `json:"poll_position"`
	BlockPath       [][]byte     `json:"block_path"`
	Header          []byte       `json:"header"`
	HeaderSignature []byte       `json:"header_signature"`
	ObjectHash      string       `json:"object_hash"`
	Location        string       `json:"location,omitempty"`
	State           string       `json:"state"`

	SigningKey *rules.ApplianceKey `json:"signing_key,omitempty"`
	AnchoredAt int64               `json:"anchored_at,omitempty"`
}

// MarshalJSON writes a v1 bundle as before and a v2 bundle with its own
// fields only.
func (b Bundle) MarshalJSON() ([]byte, error) {
	if b.Version != BundleV2 {
		return json.Marshal(bundleV1(b))
	}
	return json.Marshal(bundleV2{
		ApplianceID: b.ApplianceID, BlockID: b.BlockID, Height: b.Height, Seq: b.Seq, Version: b.Version,
		Reading: b.Reading, Decoded: b.Decoded, Salt: b.Salt, Poll: b.Poll,
		PollPath: nonNil(b.PollPath), PollPosition: b.PollPosition, BlockPath: nonNil(b.BlockPath),
		Header: b.Header, HeaderSignature: b.HeaderSignature, ObjectHash: b.ObjectHash, Location: b.Location, State: b.State,
		SigningKey: b.SigningKey, AnchoredAt: b.AnchoredAt,
	})
}

// nonNil makes an empty path [] in JSON (a one-reading poll, a one-poll
// block), not null.
func nonNil(p [][]byte) [][]byte {
	if p == nil {
		return [][]byte{}
	}
	return p
}

// Error is a failed link of a proof bundle.
type Error struct {
	Check string // reading, poll signature, merkle proof, header signature, signing key
	Err   error
}

func (e *Error) Error() string { return e.Check + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func proofErr(check, format string, args ...any) error {
	return &Error{Check: check, Err: fmt.Errorf(format, args...)}
}

// Verify checks a bundle against the appliance's public key: the
// reading's poll signature, its Merkle path to the header's root, and the
// header's signature. It returns the verified reading, decoded from its
// canonical bytes. A failure is a *Error naming the broken link.
func Verify(b *Bundle, pub ed25519.PublicKey) (*reading.Reading, error) {
	h, err := format.ParseHeader(b.Header)
	if err != nil {
		return nil, &Error{Check: "header signature", Err: err}
	}

	r, err := reading.Decode(b.Reading)
	if err != nil {
		return nil, &Error{Check: "reading", Err: err}
	}
	switch {
	case r.Seq != b.Seq:
		return nil, proofErr("reading", "the reading has seq %d, the bundle claims %d", r.Seq, b.Seq)
	case r.ApplianceID != h.ApplianceID:
		return nil, proofErr("reading", "the reading is from appliance %q, the block from %q", r.ApplianceID, h.ApplianceID)
	case r.Seq < h.FirstSeq || r.Seq > h.LastSeq:
		return nil, proofErr("reading", "seq %d is outside block %d's range %d..%d", r.Seq, h.Height, h.FirstSeq, h.LastSeq)
	}
	want, err := json.Marshal(r.JSON())
	if err != nil {
		return nil, &Error{Check: "reading", Err: err}
	}
	got, err := json.Marshal(b.Decoded)
	if err != nil || !bytes.Equal(got, want) {
		return nil, proofErr("reading", "the decoded form differs from the canonical bytes: %s", want)
	}
	if h.Version == format.HeaderV2 {
		err = verifyPollV2(b, h, r, pub)
	} else {
		err = verifyPollV1(b, h, r, pub)
	}
	if err != nil {
		return nil, err
	}

	if err := format.VerifyHeaderSig(pub, b.Header, b.HeaderSignature); err != nil {
		return nil, &Error{Check: "header signature", Err: err}
	}
	if id := format.BlockID(b.Header); id != b.BlockID || h.Height != b.Height || h.ApplianceID != b.ApplianceID {
		return nil, proofErr("header signature", "the header is block %d (%s) of %q, the bundle claims block %d (%s) of %q",
			h.Height, id, h.ApplianceID, b.Height, b.BlockID, b.ApplianceID)
	}
	return r, nil
}

// verifyPollV1 checks a v1 bundle's poll signature over its leaf hashes and
// the reading's path in the block's one tree.
func verifyPollV1(b *Bundle, h *format.Header, r *reading.Reading, pub ed25519.PublicKey) error {
	if b.Version != 0 {
		return proofErr("reading", "a version %d bundle for a v1 block", b.Version)
	}
	leaf := reading.LeafHash(b.Reading)
	p, err := reading.DecodePoll(b.Poll)
	if err != nil {
		return &Error{Check: "poll signature", Err: err}
	}
	switch {
	case p.ApplianceID != h.ApplianceID || p.DeviceID != r.DeviceID:
		return proofErr("poll signature", "the poll is of %s/%s, the reading of %s/%s", p.ApplianceID, p.DeviceID, r.ApplianceID, r.DeviceID)
	case r.Seq < p.FirstSeq || r.Seq > p.LastSeq:
		return proofErr("poll signature", "the poll covers %d..%d, not reading %d", p.FirstSeq, p.LastSeq, r.Seq)
	case p.FirstSeq < h.FirstSeq || p.LastSeq > h.LastSeq:
		return proofErr("poll signature", "the poll %d..%d reaches outside the block", p.FirstSeq, p.LastSeq)
	case uint64(len(b.PollLeafHashes)) != p.LastSeq-p.FirstSeq+1:
		return proofErr("poll signature", "%d leaf hashes for a poll of %d readings", len(b.PollLeafHashes), p.LastSeq-p.FirstSeq+1)
	case !bytes.Equal(b.PollLeafHashes[r.Seq-p.FirstSeq], leaf):
		return proofErr("poll signature", "the poll's leaf hash for reading %d is not the reading's", r.Seq)
	}
	if err := p.Verify(pub, b.PollLeafHashes); err != nil {
		return &Error{Check: "poll signature", Err: err}
	}

	idx := r.Seq - h.FirstSeq
	if b.LeafIndex != idx || b.TreeSize != h.Count {
		return proofErr("merkle proof", "leaf %d of %d claimed, the header places reading %d at leaf %d of %d", b.LeafIndex, b.TreeSize, r.Seq, idx, h.Count)
	}
	if err := merkle.Verify(idx, h.Count, leaf, b.MerklePath, h.MerkleRoot); err != nil {
		return &Error{Check: "merkle proof", Err: err}
	}
	return nil
}

// verifyPollV2 checks a v2 bundle: the salted leaf, the poll record v2's
// signature over its poll root, and the two-level path from the leaf to
// the header's block root. Indices and sizes come from the signed record
// and header (merkle.VerifyNested's rule), never from the bundle, except
// the poll's position, which the block path then proves.
func verifyPollV2(b *Bundle, h *format.Header, r *reading.Reading, pub ed25519.PublicKey) error {
	if b.Version != BundleV2 {
		return proofErr("reading", "a version %d bundle for a v2 block", b.Version)
	}
	if len(b.Salt) != reading.SaltSize {
		return proofErr("reading", "a salt of %d bytes, want %d", len(b.Salt), reading.SaltSize)
	}
	leaf := reading.SaltedLeafHash([reading.SaltSize]byte(b.Salt), b.Reading)
	p, err := reading.DecodePoll(b.Poll)
	if err != nil {
		return &Error{Check: "poll signature", Err: err}
	}
	switch {
	case p.Version() != reading.PollV2:
		return proofErr("poll signature", "a v1 poll record in a v2 block's bundle")
	case p.ApplianceID != h.ApplianceID || p.DeviceID != r.DeviceID:
		return proofErr("poll signature", "the poll is of %s/%s, the reading of %s/%s", p.ApplianceID, p.DeviceID, r.ApplianceID, r.DeviceID)
	case r.Seq < p.FirstSeq || r.Seq > p.LastSeq:
		return proofErr("poll signature", "the poll covers %d..%d, not reading %d", p.FirstSeq, p.LastSeq, r.Seq)
	case p.FirstSeq < h.FirstSeq || p.LastSeq > h.LastSeq:
		return proofErr("poll signature", "the poll %d..%d reaches outside the block", p.FirstSeq, p.LastSeq)
	}
	if err := p.VerifySignature(pub); err != nil {
		return &Error{Check: "poll signature", Err: err}
	}
	proof := &merkle.NestedProof{
		Leaf: r.Seq - p.FirstSeq, InnerSize: p.LastSeq - p.FirstSeq + 1, InnerPath: b.PollPath,
		Inner: b.PollPosition, OuterSize: h.Polls, OuterPath: b.BlockPath,
	}
	if err := merkle.VerifyNested(leaf, proof, p.PollRoot, h.MerkleRoot); err != nil {
		return &Error{Check: "merkle proof", Err: err}
	}
	return nil
}
