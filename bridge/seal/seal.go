// Package seal cuts durable readings into blocks: whole polls only (a poll's
// signature needs all its readings), a Merkle root over the readings, a
// header linked to the previous block and signed by the appliance, and the
// body encrypted for the recipients. The block, its object and its outbox
// entry are written in one synced batch.
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
	maxReadings uint64
	now         func() time.Time
}

// New returns a sealer. recipients must include the owner's key.
func New(st *store.Store, applianceID string, key ed25519.PrivateKey, recipients []hpke.PublicKey, maxReadings int) (*Sealer, error) {
	if maxReadings < 1 {
		return nil, fmt.Errorf("seal: max readings %d must be at least 1", maxReadings)
	}
	if len(recipients) == 0 {
		return nil, errors.New("seal: no recipients")
	}
	return &Sealer{st: st, applianceID: applianceID, key: key, recipients: recipients, maxReadings: uint64(maxReadings), now: time.Now}, nil
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

	var groups [][]pollRange
	var cur []pollRange
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
		if len(cur) > 0 && count+n > s.maxReadings {
			groups = append(groups, cur)
			cur, count = nil, 0
		}
		cur = append(cur, pollRange{p.FirstSeq, p.LastSeq, rec})
		count += n
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if len(cur) > 0 && (flush || count >= s.maxReadings) {
		groups = append(groups, cur)
	}
	var out []*store.BlockRecord
	for _, g := range groups {
		rec, err := s.sealOne(height, prev, g)
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
	rec := &store.BlockRecord{
		Height: height, BlockID: format.BlockID(hb), Header: hb, HeaderSig: sig,
		FirstSeq: first, LastSeq: last, ObjectHash: envelope.Hash(obj), State: store.Sealed, SealedAt: h.SealedAt,
	}
	if err := s.st.CommitBlock(rec, obj); err != nil {
		return nil, fmt.Errorf("seal block %d: %w", height, err)
	}
	return rec, nil
}
