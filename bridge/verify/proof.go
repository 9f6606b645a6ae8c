package verify

import (
	"bytes"
	"crypto/hpke"
	"fmt"
	"sort"

	"github.com/wotchain/wotchain/bridge/block"
	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/keytree"
	"github.com/wotchain/wotchain/bridge/merkle"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
)

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
