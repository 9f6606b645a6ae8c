package httpapi

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/wotchain/wotchain/bridge/block"
	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/merkle"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
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
	Reading []byte  `json:"reading"`
	Decoded Reading `json:"decoded"`
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
	h, err := block.ParseHeader(b.Header)
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
	want, err := json.Marshal(NewReading(r))
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

	if err := block.VerifyHeaderSig(pub, b.Header, b.HeaderSignature); err != nil {
		return nil, &ProofError{Check: "header signature", Err: err}
	}
	if id := block.ID(b.Header); id != b.BlockID || h.Height != b.Height || h.ApplianceID != b.ApplianceID {
		return nil, proofErr("header signature", "the header is block %d (%s) of %q, the bundle claims block %d (%s) of %q",
			h.Height, id, h.ApplianceID, b.Height, b.BlockID, b.ApplianceID)
	}
	return r, nil
}

// UnmarshalJSON keeps numeric values exact (an int64 beyond 2^53 would not
// survive a float64), so VerifyProof can compare them with the canonical
// reading.
func (r *Reading) UnmarshalJSON(data []byte) error {
	type plain Reading
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var p plain
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*r = Reading(p)
	return nil
}

var errNoOwnerKey = errors.New("no owner key configured: proofs need the decrypted block")

func (s *Server) handleProof(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	err := checkParams(q, "seq")
	var seq uint64
	if err == nil {
		v := q.Get("seq")
		if seq, err = strconv.ParseUint(v, 10, 64); err != nil || seq == 0 {
			err = badParam("seq", "%q is not a reading sequence number (a whole number from 1)", v)
		}
	}
	var rec *store.BlockRecord
	if err == nil {
		rec, err = s.findBlock(r.Context(), r.PathValue("id"))
	}
	if err == nil && s.opts.OwnerKey == nil {
		err = withStatus(http.StatusServiceUnavailable, errNoOwnerKey)
	}
	var b *ProofBundle
	if err == nil {
		b, err = s.proof(r.Context(), rec, seq)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// proof builds the bundle for reading seq of block rec.
func (s *Server) proof(ctx context.Context, rec *store.BlockRecord, seq uint64) (*ProofBundle, error) {
	if seq < rec.FirstSeq || seq > rec.LastSeq {
		return nil, withStatus(http.StatusNotFound, fmt.Errorf("reading %d is not in block %d (readings %d..%d)", seq, rec.Height, rec.FirstSeq, rec.LastSeq))
	}
	ob, err := s.openBlock(ctx, rec)
	if err != nil {
		return nil, err
	}
	idx := seq - rec.FirstSeq
	raw := ob.body.Readings[idx]
	rd, err := reading.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("block %d reading %d: %w", rec.Height, seq, err)
	}
	var pollRaw []byte
	var pollLeaves [][]byte
	for i, p := range ob.polls {
		if seq >= p.FirstSeq && seq <= p.LastSeq {
			pollRaw = ob.body.Polls[i]
			pollLeaves = ob.leaves[p.FirstSeq-rec.FirstSeq : p.LastSeq-rec.FirstSeq+1]
			break
		}
	}
	if pollRaw == nil {
		return nil, fmt.Errorf("block %d: no poll record covers reading %d", rec.Height, seq)
	}
	path, err := ob.tree.Proof(idx)
	if err != nil {
		return nil, fmt.Errorf("block %d: %w", rec.Height, err)
	}
	return &ProofBundle{
		ApplianceID: ob.header.ApplianceID, BlockID: rec.BlockID, Height: rec.Height, Seq: seq,
		Reading: raw, Decoded: NewReading(rd), Poll: pollRaw, PollLeafHashes: pollLeaves,
		LeafIndex: idx, TreeSize: ob.tree.Size(), MerklePath: path,
		Header: rec.Header, HeaderSignature: rec.HeaderSig,
		ObjectHash: rec.ObjectHash, Location: rec.Location, State: rec.State.String(),
	}, nil
}

// openedBlock is a decrypted block body with what proofs need of it.
type openedBlock struct {
	header *block.Header
	body   *block.Body
	leaves [][]byte
	polls  []*reading.PollRecord
	tree   *merkle.Tree
}

// openBlock decrypts a block's object with the owner key: from the store,
// or from storage when the store no longer keeps it. The object must be the
// one the block record names, and its body what the header describes.
func (s *Server) openBlock(ctx context.Context, rec *store.BlockRecord) (*openedBlock, error) {
	if ob := s.blocks.get(rec.BlockID); ob != nil {
		return ob, nil
	}
	obj, err := s.opts.Store.Object(rec.Height)
	if store.IsNotFound(err) && s.opts.Objects != nil && rec.Location != "" {
		obj, err = s.opts.Objects.Get(ctx, rec.Location)
	}
	if err != nil {
		return nil, fmt.Errorf("object of block %d: %w", rec.Height, err)
	}
	if got := envelope.Hash(obj); got != rec.ObjectHash {
		return nil, fmt.Errorf("object of block %d hashes to %s, the block record says %s", rec.Height, got, rec.ObjectHash)
	}
	o, err := envelope.Parse(obj)
	if err != nil {
		return nil, fmt.Errorf("object of block %d: %w", rec.Height, err)
	}
	if !bytes.Equal(o.Header, rec.Header) {
		return nil, fmt.Errorf("object of block %d carries another header", rec.Height)
	}
	plain, err := o.Open(s.opts.OwnerKey)
	if err != nil {
		return nil, fmt.Errorf("decrypt block %d: %w", rec.Height, err)
	}
	h, err := block.ParseHeader(rec.Header)
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
	ob := &openedBlock{header: h, body: body, leaves: body.LeafHashes()}
	if ob.tree, err = merkle.New(ob.leaves); err != nil {
		return nil, fmt.Errorf("block %d: %w", rec.Height, err)
	}
	if !bytes.Equal(ob.tree.Root(), h.MerkleRoot) {
		return nil, fmt.Errorf("block %d: readings' Merkle root does not match the header", rec.Height)
	}
	for i, raw := range body.Polls {
		p, err := reading.DecodePoll(raw)
		if err != nil {
			return nil, fmt.Errorf("block %d poll %d: %w", rec.Height, i, err)
		}
		if p.FirstSeq < h.FirstSeq || p.LastSeq > h.LastSeq {
			return nil, fmt.Errorf("block %d poll %d: covers %d..%d outside the block", rec.Height, i, p.FirstSeq, p.LastSeq)
		}
		ob.polls = append(ob.polls, p)
	}
	s.blocks.put(rec.BlockID, ob)
	return ob, nil
}

// blockCache keeps the last few opened blocks: a partner proving many
// readings of one block should not cost a decryption each.
type blockCache struct {
	mu   sync.Mutex
	size int
	ids  []string // most recent last
	byID map[string]*openedBlock
}

func newBlockCache(size int) *blockCache {
	return &blockCache{size: size, byID: map[string]*openedBlock{}}
}

func (c *blockCache) get(id string) *openedBlock {
	c.mu.Lock()
	defer c.mu.Unlock()
	ob := c.byID[id]
	if ob != nil {
		c.touch(id)
	}
	return ob
}

func (c *blockCache) put(id string, ob *openedBlock) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byID[id]; !ok && len(c.ids) == c.size {
		delete(c.byID, c.ids[0])
		c.ids = c.ids[1:]
	}
	c.byID[id] = ob
	c.touch(id)
}

func (c *blockCache) touch(id string) {
	for i, x := range c.ids {
		if x == id {
			c.ids = append(c.ids[:i], c.ids[i+1:]...)
			break
		}
	}
	c.ids = append(c.ids, id)
}
