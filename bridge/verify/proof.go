package verify

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"

	"github.com/wotchain/wotchain/bridge/block"
	"github.com/wotchain/wotchain/bridge/merkle"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
)

// ProofBundle is everything needed to check one reading offline against the
// appliance's public key: the reading, the signed poll it came in with the
// leaf hashes of all that poll's readings, its Merkle inclusion proof, and
// the signed block header holding the root. Byte fields are base64 in JSON.
//
// ObjectHash and Location are what the ledger credential of BlockID binds
// to the header; checking the credential on the ledger is the partner's
// last step and is outside the bundle.
type ProofBundle struct {
	ApplianceID string `json:"appliance_id"`
	BlockID     string `json:"block_id"` // hex SHA-256 of Header
	Height      uint64 `json:"height"`
	Seq         uint64 `json:"seq"`
	// Reading is the reading's canonical CBOR; Decoded is the same reading
	// as JSON, for convenience (VerifyProof checks they agree).
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
}

// ProofError is a failed link of a proof bundle.
type ProofError struct {
	Check string // reading, poll signature, merkle proof, header signature
	Err   error
}

func (e *ProofError) Error() string { return e.Check + ": " + e.Err.Error() }
func (e *ProofError) Unwrap() error { return e.Err }

func proofErr(check, format string, args ...any) error {
	return &ProofError{Check: check, Err: fmt.Errorf(format, args...)}
}

// VerifyProof checks a bundle against the appliance's public key: the
// reading's poll signature, its Merkle path to the header's root, and the
// header's signature. It returns the verified reading, decoded from its
// canonical bytes. A failure is a *ProofError naming the broken link.
func VerifyProof(b *ProofBundle, pub ed25519.PublicKey) (*reading.Reading, error) {
	h, err := format.ParseHeader(b.Header)
	if err != nil {
		return nil, &ProofError{Check: "header signature", Err: err}
	}

	r, err := reading.Decode(b.Reading)
	if err != nil {
		return nil, &ProofError{Check: "reading", Err: err}
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
		return nil, &ProofError{Check: "reading", Err: err}
	}
	got, err := json.Marshal(b.Decoded)
	if err != nil || !bytes.Equal(got, want) {
		return nil, proofErr("reading", "the decoded form differs from the canonical bytes: %s", want)
	}
	leaf := reading.LeafHash(b.Reading)

	p, err := reading.DecodePoll(b.Poll)
	if err != nil {
		return nil, &ProofError{Check: "poll signature", Err: err}
	}
	switch {
	case p.ApplianceID != h.ApplianceID || p.DeviceID != r.DeviceID:
		return nil, proofErr("poll signature", "the poll is of %s/%s, the reading of %s/%s", p.ApplianceID, p.DeviceID, r.ApplianceID, r.DeviceID)
	case r.Seq < p.FirstSeq || r.Seq > p.LastSeq:
		return nil, proofErr("poll signature", "the poll covers %d..%d, not reading %d", p.FirstSeq, p.LastSeq, r.Seq)
	case p.FirstSeq < h.FirstSeq || p.LastSeq > h.LastSeq:
		return nil, proofErr("poll signature", "the poll %d..%d reaches outside the block", p.FirstSeq, p.LastSeq)
	case uint64(len(b.PollLeafHashes)) != p.LastSeq-p.FirstSeq+1:
		return nil, proofErr("poll signature", "%d leaf hashes for a poll of %d readings", len(b.PollLeafHashes), p.LastSeq-p.FirstSeq+1)
	case !bytes.Equal(b.PollLeafHashes[r.Seq-p.FirstSeq], leaf):
		return nil, proofErr("poll signature", "the poll's leaf hash for reading %d is not the reading's", r.Seq)
	}
	if err := p.Verify(pub, b.PollLeafHashes); err != nil {
		return nil, &ProofError{Check: "poll signature", Err: err}
	}

	idx := r.Seq - h.FirstSeq
	if b.LeafIndex != idx || b.TreeSize != h.Count {
		return nil, proofErr("merkle proof", "leaf %d of %d claimed, the header places reading %d at leaf %d of %d", b.LeafIndex, b.TreeSize, r.Seq, idx, h.Count)
	}
	if err := merkle.Verify(idx, h.Count, leaf, b.MerklePath, h.MerkleRoot); err != nil {
		return nil, &ProofError{Check: "merkle proof", Err: err}
	}

	if err := format.VerifyHeaderSig(pub, b.Header, b.HeaderSignature); err != nil {
		return nil, &ProofError{Check: "header signature", Err: err}
	}
	if id := format.BlockID(b.Header); id != b.BlockID || h.Height != b.Height || h.ApplianceID != b.ApplianceID {
		return nil, proofErr("header signature", "the header is block %d (%s) of %q, the bundle claims block %d (%s) of %q",
			h.Height, id, h.ApplianceID, b.Height, b.BlockID, b.ApplianceID)
	}
	return r, nil
}

// Prover builds the proof bundles of one decrypted block. It keeps the
// block's Merkle tree, so proving many readings of a block costs one
// decryption and one tree.
type Prover struct {
	header *format.Header
	body   *block.Body
	leaves [][]byte
	polls  []*reading.PollRecord
	tree   *merkle.Tree
}

// NewProver checks the decrypted body plain of block rec against the
// record's header (reading count, Merkle root, poll ranges) and keeps what
// proofs need of it. Signatures are not checked: a bundle is checked by its
// receiver.
func NewProver(rec *store.BlockRecord, plain []byte) (*Prover, error) {
	h, err := format.ParseHeader(rec.Header)
	if err != nil {
		return nil, fmt.Errorf("block %d: %w", rec.Height, err)
	}
	body, err := block.ParseBody(plain)
	if err != nil {
		return nil, fmt.Errorf("block %d: %w", rec.Height, err)
	}
	if uint64(len(body.Readings)) != h.Count {
		return nil, fmt.Errorf("block %d: body has %d readings, header says %d", rec.Height, len(body.Readings), h.Count)
	}
	p := &Prover{header: h, body: body, leaves: body.LeafHashes()}
	if p.tree, err = merkle.New(p.leaves); err != nil {
		return nil, fmt.Errorf("block %d: %w", rec.Height, err)
	}
	if !bytes.Equal(p.tree.Root(), h.MerkleRoot) {
		return nil, fmt.Errorf("block %d: readings' Merkle root does not match the header", rec.Height)
	}
	for i, raw := range body.Polls {
		pr, err := reading.DecodePoll(raw)
		if err != nil {
			return nil, fmt.Errorf("block %d poll %d: %w", rec.Height, i, err)
		}
		if pr.FirstSeq < h.FirstSeq || pr.LastSeq > h.LastSeq {
			return nil, fmt.Errorf("block %d poll %d: covers %d..%d outside the block", rec.Height, i, pr.FirstSeq, pr.LastSeq)
		}
		p.polls = append(p.polls, pr)
	}
	return p, nil
}

// Bundle builds the bundle of reading seq, which must be in rec's range;
// rec is the block's current record (its state and location).
func (p *Prover) Bundle(rec *store.BlockRecord, seq uint64) (*ProofBundle, error) {
	if seq < rec.FirstSeq || seq > rec.LastSeq {
		return nil, fmt.Errorf("reading %d is not in block %d (readings %d..%d)", seq, rec.Height, rec.FirstSeq, rec.LastSeq)
	}
	idx := seq - rec.FirstSeq
	raw := p.body.Readings[idx]
	rd, err := reading.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("block %d reading %d: %w", rec.Height, seq, err)
	}
	var pollRaw []byte
	var pollLeaves [][]byte
	for i, pr := range p.polls {
		if seq >= pr.FirstSeq && seq <= pr.LastSeq {
			pollRaw = p.body.Polls[i]
			pollLeaves = p.leaves[pr.FirstSeq-rec.FirstSeq : pr.LastSeq-rec.FirstSeq+1]
			break
		}
	}
	if pollRaw == nil {
		return nil, fmt.Errorf("block %d: no poll record covers reading %d", rec.Height, seq)
	}
	path, err := p.tree.Proof(idx)
	if err != nil {
		return nil, fmt.Errorf("block %d: %w", rec.Height, err)
	}
	return &ProofBundle{
		ApplianceID: p.header.ApplianceID, BlockID: rec.BlockID, Height: rec.Height, Seq: seq,
		Reading: raw, Decoded: rd.JSON(), Poll: pollRaw, PollLeafHashes: pollLeaves,
		LeafIndex: idx, TreeSize: p.tree.Size(), MerklePath: path,
		Header: rec.Header, HeaderSignature: rec.HeaderSig,
		ObjectHash: rec.ObjectHash, Location: rec.Location, State: rec.State.String(),
	}, nil
}
