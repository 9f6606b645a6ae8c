package verify

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hpke"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/wotchain/wotchain/bridge/block"
	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/keytree"
	"github.com/wotchain/wotchain/bridge/merkle"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// ProofBundle is everything needed to check one reading offline against the
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
	// supplies (VerifyProof), as before.
	SigningKey *rules.ApplianceKey `json:"signing_key,omitempty"`
	AnchoredAt int64               `json:"anchored_at,omitempty"`
}

// BundleV2 is the version of a v2 block's bundle.
const BundleV2 = 2

// proofBundleV1 has ProofBundle's fields without its methods.
type proofBundleV1 ProofBundle

// proofBundleV2 is a v2 bundle's JSON: exactly what V2-SPEC section 6
// lists, plus the block's identity and ledger state, and its signing key.
type proofBundleV2 struct {
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
func (b ProofBundle) MarshalJSON() ([]byte, error) {
	if b.Version != BundleV2 {
		return json.Marshal(proofBundleV1(b))
	}
	return json.Marshal(proofBundleV2{
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

// ProofError is a failed link of a proof bundle.
type ProofError struct {
	Check string // reading, poll signature, merkle proof, header signature, signing key
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
	if h.Version == format.HeaderV2 {
		err = verifyPollV2(b, h, r, pub)
	} else {
		err = verifyPollV1(b, h, r, pub)
	}
	if err != nil {
		return nil, err
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

// verifyPollV1 checks a v1 bundle's poll signature over its leaf hashes and
// the reading's path in the block's one tree.
func verifyPollV1(b *ProofBundle, h *format.Header, r *reading.Reading, pub ed25519.PublicKey) error {
	if b.Version != 0 {
		return proofErr("reading", "a version %d bundle for a v1 block", b.Version)
	}
	leaf := reading.LeafHash(b.Reading)
	p, err := reading.DecodePoll(b.Poll)
	if err != nil {
		return &ProofError{Check: "poll signature", Err: err}
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
		return &ProofError{Check: "poll signature", Err: err}
	}

	idx := r.Seq - h.FirstSeq
	if b.LeafIndex != idx || b.TreeSize != h.Count {
		return proofErr("merkle proof", "leaf %d of %d claimed, the header places reading %d at leaf %d of %d", b.LeafIndex, b.TreeSize, r.Seq, idx, h.Count)
	}
	if err := merkle.Verify(idx, h.Count, leaf, b.MerklePath, h.MerkleRoot); err != nil {
		return &ProofError{Check: "merkle proof", Err: err}
	}
	return nil
}

// verifyPollV2 checks a v2 bundle: the salted leaf, the poll record v2's
// signature over its poll root, and the two-level path from the leaf to
// the header's block root. Indices and sizes come from the signed record
// and header (merkle.VerifyNested's rule), never from the bundle, except
// the poll's position, which the block path then proves.
func verifyPollV2(b *ProofBundle, h *format.Header, r *reading.Reading, pub ed25519.PublicKey) error {
	if b.Version != BundleV2 {
		return proofErr("reading", "a version %d bundle for a v2 block", b.Version)
	}
	if len(b.Salt) != reading.SaltSize {
		return proofErr("reading", "a salt of %d bytes, want %d", len(b.Salt), reading.SaltSize)
	}
	leaf := reading.SaltedLeafHash([reading.SaltSize]byte(b.Salt), b.Reading)
	p, err := reading.DecodePoll(b.Poll)
	if err != nil {
		return &ProofError{Check: "poll signature", Err: err}
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
		return &ProofError{Check: "poll signature", Err: err}
	}
	proof := &merkle.NestedProof{
		Leaf: r.Seq - p.FirstSeq, InnerSize: p.LastSeq - p.FirstSeq + 1, InnerPath: b.PollPath,
		Inner: b.PollPosition, OuterSize: h.Polls, OuterPath: b.BlockPath,
	}
	if err := merkle.VerifyNested(leaf, proof, p.PollRoot, h.MerkleRoot); err != nil {
		return &ProofError{Check: "merkle proof", Err: err}
	}
	return nil
}

// Prover builds the proof bundles of one decrypted block. It keeps the
// block's Merkle trees, so proving many readings of a block costs one
// decryption and one set of trees. It is read-only once built, so one
// Prover may serve several goroutines.
type Prover struct {
	header *format.Header
	// v1
	body   *block.Body
	leaves [][]byte
	polls  []*reading.PollRecord
	tree   *merkle.Tree
	// v2
	v2 *proverV2
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
	if p.v2 != nil {
		return p.bundleV2(rec, seq)
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

// proverV2 is what a v2 block's bundles are made of: per poll its record,
// poll key, readings and tree, and the block's tree over the poll roots.
type proverV2 struct {
	records [][]byte
	polls   []*reading.PollRecord
	keys    [][32]byte
	raw     [][][]byte
	inner   []*merkle.Tree
	outer   *merkle.Tree
}

// OpenProver opens the stored object of block rec (either format) with
// the owner's (or a full recipient's) key and returns its Prover. The
// caller has checked the object is the one rec names (its hash).
func OpenProver(rec *store.BlockRecord, obj []byte, owner hpke.PrivateKey) (*Prover, error) {
	f, err := envelope.FormatOf(obj)
	if err != nil {
		return nil, fmt.Errorf("object of block %d: %w", rec.Height, err)
	}
	open := openProverV1
	if f == envelope.FormatV2 {
		open = openProverV2
	}
	return open(rec, obj, owner)
}

// sameHeader refuses an object whose header is not the block's.
func sameHeader(rec *store.BlockRecord, header []byte) error {
	if !bytes.Equal(header, rec.Header) {
		return fmt.Errorf("object of block %d carries another header", rec.Height)
	}
	return nil
}

func openProverV1(rec *store.BlockRecord, obj []byte, owner hpke.PrivateKey) (*Prover, error) {
	o, err := envelope.Parse(obj)
	if err != nil {
		return nil, fmt.Errorf("object of block %d: %w", rec.Height, err)
	}
	if err := sameHeader(rec, o.Header); err != nil {
		return nil, err
	}
	plain, err := o.Open(owner)
	if err != nil {
		return nil, fmt.Errorf("decrypt block %d: %w", rec.Height, err)
	}
	return NewProver(rec, plain)
}

func openProverV2(rec *store.BlockRecord, obj []byte, owner hpke.PrivateKey) (*Prover, error) {
	o, err := envelope.ParseV2(obj)
	if err != nil {
		return nil, fmt.Errorf("object of block %d: %w", rec.Height, err)
	}
	if err := sameHeader(rec, o.Header); err != nil {
		return nil, err
	}
	nodes, _, err := KeySetV2(o, owner, nil)
	if err != nil {
		return nil, fmt.Errorf("decrypt block %d: %w", rec.Height, err)
	}
	c, err := envelope.NewCodec()
	if err != nil {
		return nil, err
	}
	return NewProverV2(rec, o, nodes, c)
}

// NewProverV2 opens every poll of the v2 object o of block rec with
// keySet (the block's full key set) and checks it against the record's
// header: each poll's readings and salted leaves give its record's poll
// root, the poll roots give the header's block root. Signatures are not
// checked: a bundle is checked by its receiver.
func NewProverV2(rec *store.BlockRecord, o *envelope.ObjectV2, keySet []keytree.Node, c *envelope.Codec) (*Prover, error) {
	h, err := format.ParseHeader(rec.Header)
	if err != nil {
		return nil, fmt.Errorf("block %d: %w", rec.Height, err)
	}
	if h.Version != format.HeaderV2 || h.Polls != uint64(len(o.Polls)) {
		return nil, fmt.Errorf("block %d: header version %d with %d polls for a v2 object of %d polls", rec.Height, h.Version, h.Polls, len(o.Polls))
	}
	v := &proverV2{}
	roots := make([][]byte, len(o.Polls))
	next := h.FirstSeq
	for k, ps := range o.Polls {
		pr, err := o.Record(k)
		if err != nil {
			return nil, fmt.Errorf("block %d poll %d: %w", rec.Height, k, err)
		}
		if pr.Version() != reading.PollV2 || pr.FirstSeq != next || pr.LastSeq > h.LastSeq {
			return nil, fmt.Errorf("block %d poll %d: covers %d..%d, expected a v2 poll from %d", rec.Height, k, pr.FirstSeq, pr.LastSeq, next)
		}
		next = pr.LastSeq + 1
		key, ok := keytree.KeyOf(keySet, pr.DeviceID, pr.PollIndex)
		if !ok {
			return nil, fmt.Errorf("block %d poll %d: the key set does not cover poll %d of %q", rec.Height, k, pr.PollIndex, pr.DeviceID)
		}
		raw, err := o.OpenPoll(c, k, keytree.SectionKey(key))
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", rec.Height, err)
		}
		if uint64(len(raw)) != pr.LastSeq-pr.FirstSeq+1 {
			return nil, fmt.Errorf("block %d poll %d: %d readings for %d..%d", rec.Height, k, len(raw), pr.FirstSeq, pr.LastSeq)
		}
		t, err := merkle.New(reading.SaltedLeaves(key, raw))
		if err != nil {
			return nil, fmt.Errorf("block %d poll %d: %w", rec.Height, k, err)
		}
		if !bytes.Equal(t.Root(), pr.PollRoot) {
			return nil, fmt.Errorf("block %d poll %d: readings' poll root does not match the record", rec.Height, k)
		}
		v.records = append(v.records, ps.Record)
		v.polls = append(v.polls, pr)
		v.keys = append(v.keys, key)
		v.raw = append(v.raw, raw)
		v.inner = append(v.inner, t)
		roots[k] = pr.PollRoot
	}
	if next != h.LastSeq+1 {
		return nil, fmt.Errorf("block %d: poll records do not cover every reading", rec.Height)
	}
	if v.outer, err = merkle.NewOuter(roots); err != nil {
		return nil, fmt.Errorf("block %d: %w", rec.Height, err)
	}
	if !bytes.Equal(v.outer.Root(), h.MerkleRoot) {
		return nil, fmt.Errorf("block %d: poll roots' block root does not match the header", rec.Height)
	}
	return &Prover{header: h, v2: v}, nil
}

// bundleV2 builds a v2 block's bundle of reading seq (in rec's range).
func (p *Prover) bundleV2(rec *store.BlockRecord, seq uint64) (*ProofBundle, error) {
	v := p.v2
	k := sort.Search(len(v.polls), func(i int) bool { return v.polls[i].LastSeq >= seq })
	if k == len(v.polls) || seq < v.polls[k].FirstSeq {
		return nil, fmt.Errorf("block %d: no poll record covers reading %d", rec.Height, seq)
	}
	j := seq - v.polls[k].FirstSeq
	raw := v.raw[k][j]
	rd, err := reading.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("block %d reading %d: %w", rec.Height, seq, err)
	}
	proof, err := merkle.ProveNested(v.inner[k], j, v.outer, uint64(k))
	if err != nil {
		return nil, fmt.Errorf("block %d: %w", rec.Height, err)
	}
	salt := keytree.Salt(v.keys[k], j)
	return &ProofBundle{
		ApplianceID: p.header.ApplianceID, BlockID: rec.BlockID, Height: rec.Height, Seq: seq, Version: BundleV2,
		Reading: raw, Decoded: rd.JSON(), Salt: salt[:], Poll: v.records[k],
		PollPath: proof.InnerPath, PollPosition: uint64(k), BlockPath: proof.OuterPath,
		Header: rec.Header, HeaderSignature: rec.HeaderSig,
		ObjectHash: rec.ObjectHash, Location: rec.Location, State: rec.State.String(),
	}, nil
}
