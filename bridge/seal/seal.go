// Package seal cuts durable readings into blocks: whole polls only (a poll's
// signature needs all its readings), a Merkle root over the readings, a
// header linked to the previous block and signed by the appliance, and the
// body encrypted for the recipients. The block, its object and its outbox
// entry are written in one synced batch.
//
// A block's format follows its polls: v1 polls are sealed into v1 blocks
// (one data key), v2 polls (ingest.WithFormat(2)) into v2 blocks (one
// section per poll under the poll's own key, bridge/envelope's ObjectV2).
// A block never mixes the two: v1 polls left from before an upgrade end in
// v1 blocks, and the first v2 poll starts a new block.
package seal

import (
	"crypto/ed25519"
	"crypto/hpke"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/wotchain/wotchain/bridge/block"
	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/keytree"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
)

// DefaultMaxReadings is seal.max_readings when unset. A block costs the
// ledger about 2.7 KB whatever its size, a reading on chain would cost
// about 135 bytes: from about 20,000 readings a block the ledger holds 1,000
// times less than a chain of readings (docs/BENCHMARKS.md). Blocks reach
// it only at high rates; the interval seals smaller ones.
const DefaultMaxReadings = 25_000

// Sealer seals blocks of at most MaxReadings readings (a single poll larger
// than that gets a block of its own).
type Sealer struct {
	mu          sync.Mutex
	st          *store.Store
	applianceID string
	key         ed25519.PrivateKey
	recipients  []hpke.PublicKey
	keyID       string // format.KeyID of key, recorded in each block
	maxReadings uint64
	now         func() time.Time

	// v2 only, made at the first v2 block: the key tree of key (the same
	// tree ingest derived the polls' keys from) and the section codec.
	tree  *keytree.Tree
	codec *envelope.Codec
}

// New returns a sealer. recipients must include the owner's key.
func New(st *store.Store, applianceID string, key ed25519.PrivateKey, recipients []hpke.PublicKey, maxReadings int) (*Sealer, error) {
	if maxReadings < 1 {
		return nil, fmt.Errorf("seal: max readings %d must be at least 1", maxReadings)
	}
	if len(recipients) == 0 {
		return nil, errors.New("seal: no recipients")
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("seal: signing key of %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	return &Sealer{st: st, applianceID: applianceID, key: key, keyID: format.KeyID(key.Public().(ed25519.PublicKey)),
		recipients: recipients, maxReadings: uint64(maxReadings), now: time.Now}, nil
}

// merkleRoot is the RFC 6962 root over the leaf hashes, computed the way
// merkle.New computes its root (a compact range) but without building the
// tree's levels for proofs, which sealing never asks for: that halves the
// hashing. TestMerkleRootMatchesTree pins it to merkle.New.
func merkleRoot(leaves [][]byte) ([]byte, error) {
	if len(leaves) == 0 {
		return nil, errors.New("merkle: a tree needs at least one leaf")
	}
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := rf.NewEmptyRange(0)
	for _, h := range leaves {
		if err := r.Append(h, nil); err != nil {
			return nil, err
		}
	}
	return r.GetRootHash(nil)
}

type pollRange struct {
	first, last uint64
	record      []byte
	poll        *reading.PollRecord
}

// group is the polls of one block to be, all of one format.
type group struct {
	v2    bool
	polls []pollRange
}

// Seal seals every full block of pending readings, and when flush is set
// also the partial tail (the seal interval has passed). It returns the new
// blocks in height order.
func (s *Sealer) Seal(flush bool) ([]*store.BlockRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	height, prev, from := uint64(0), []byte(nil), uint64(1)
	if last, err := s.st.LastBlock(); err == nil {
		height, from = last.Height+1, last.LastSeq+1
		if prev, err = hex.DecodeString(last.BlockID); err != nil {
			return nil, fmt.Errorf("seal: block %d has a corrupt id: %w", last.Height, err)
		}
	} else if !store.IsNotFound(err) {
		return nil, fmt.Errorf("seal: %w", err)
	}

	var groups []group
	var cur group
	var count uint64
	expect := from
	err := s.st.Polls(from, func(first uint64, rec []byte) (bool, error) {
		p, err := reading.DecodePoll(rec)
		if err != nil {
			return false, fmt.Errorf("seal: poll at %d: %w", first, err)
		}
		if p.FirstSeq != expect {
			return false, fmt.Errorf("seal: poll records jump from %d to %d", expect, p.FirstSeq)
		}
		expect = p.LastSeq + 1
		n := p.LastSeq - p.FirstSeq + 1
		v2 := p.Version() == reading.PollV2
		if len(cur.polls) > 0 && (count+n > s.maxReadings || v2 != cur.v2) {
			groups = append(groups, cur)
			cur, count = group{}, 0
		}
		cur.v2 = v2
		cur.polls = append(cur.polls, pollRange{p.FirstSeq, p.LastSeq, rec, p})
		count += n
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	// A format change closes the block before it whatever the flush: the
	// groups before the last are complete.
	if len(cur.polls) > 0 && (flush || count >= s.maxReadings) {
		groups = append(groups, cur)
	}
	var out []*store.BlockRecord
	for _, g := range groups {
		sealGroup := s.sealOne
		if g.v2 {
			sealGroup = s.sealOneV2
		}
		rec, err := sealGroup(height, prev, g.polls)
		if err != nil {
			return out, err
		}
		out = append(out, rec)
		height++
		prev, _ = hex.DecodeString(rec.BlockID)
	}
	return out, nil
}

func (s *Sealer) sealOne(height uint64, prev []byte, polls []pollRange) (*store.BlockRecord, error) {
	first, last := polls[0].first, polls[len(polls)-1].last
	raw, err := s.st.Readings(first, last)
	if err != nil {
		return nil, fmt.Errorf("seal block %d: %w", height, err)
	}
	body := &block.Body{Readings: raw}
	for _, p := range polls {
		body.Polls = append(body.Polls, p.record)
	}
	h := &format.Header{
		Version: format.HeaderV1, ApplianceID: s.applianceID, Height: height, PrevHash: prev,
		FirstSeq: first, LastSeq: last, Count: last - first + 1, SealedAt: s.now().UnixNano(),
	}
	sum, err := summarise(raw, first)
	if err != nil {
		return nil, fmt.Errorf("seal block %d: %w", height, err)
	}
	h.FirstTime, h.LastTime, h.Devices = sum.firstTime, sum.lastTime, sum.devices
	if h.MerkleRoot, err = merkleRoot(sum.leaves); err != nil {
		return nil, fmt.Errorf("seal block %d: %w", height, err)
	}
	hb, err := h.Encode()
	if err != nil {
		return nil, err
	}
	sig := format.SignHeader(s.key, hb)
	bb, err := body.Encode()
	if err != nil {
		return nil, err
	}
	obj, err := envelope.Seal(hb, sig, bb, s.recipients)
	if err != nil {
		return nil, fmt.Errorf("seal block %d: %w", height, err)
	}
	return s.commit(h, hb, sig, obj)
}

// commit writes a sealed block, its object and its outbox entry.
func (s *Sealer) commit(h *format.Header, hb, sig, obj []byte) (*store.BlockRecord, error) {
	rec := &store.BlockRecord{
		Height: h.Height, BlockID: format.BlockID(hb), Header: hb, HeaderSig: sig,
		FirstSeq: h.FirstSeq, LastSeq: h.LastSeq, ObjectHash: envelope.Hash(obj), State: store.Sealed, SealedAt: h.SealedAt,
		KeyID: s.keyID,
	}
	if err := s.st.CommitBlock(rec, obj); err != nil {
		return nil, fmt.Errorf("seal block %d: %w", h.Height, err)
	}
	return rec, nil
}
