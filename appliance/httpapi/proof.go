package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/bridge/verify"
	"github.com/wotchain/wotchain/chaincode/rules"
)

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
	var b *verify.ProofBundle
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
func (s *Server) proof(ctx context.Context, rec *store.BlockRecord, seq uint64) (*verify.ProofBundle, error) {
	if seq < rec.FirstSeq || seq > rec.LastSeq {
		return nil, withStatus(http.StatusNotFound, fmt.Errorf("reading %d is not in block %d (readings %d..%d)", seq, rec.Height, rec.FirstSeq, rec.LastSeq))
	}
	p, err := s.openBlock(ctx, rec)
	if err != nil {
		return nil, err
	}
	b, err := p.Bundle(rec, seq)
	if err != nil {
		return nil, err
	}
	s.attachKey(ctx, rec, b)
	return b, nil
}

// attachKey adds the block's signing key entry and anchoring time from the
// ledger. A block not anchored yet, or a ledger that cannot answer now,
// gives a bundle without them: it still verifies against a key the partner
// supplies, and the ledger check is the partner's own last step anyway.
func (s *Server) attachKey(ctx context.Context, rec *store.BlockRecord, b *verify.ProofBundle) {
	kh, ok := s.opts.Credentials.(KeyHistory)
	if !ok || rec.State < store.Anchored {
		return
	}
	cred, err := s.opts.Credentials.Credential(ctx, rec.BlockID)
	if err == nil {
		var app *rules.Appliance
		if app, err = kh.Appliance(ctx, cred.ApplianceID); err == nil {
			err = b.AttachKey(cred, app)
		}
	}
	if err != nil {
		s.log.Warn("proof bundle without its signing key", "block", rec.Height, "err", err)
	}
}

// openBlock decrypts a block's object with the owner key: from the store,
// or from storage when the store no longer keeps it. The object must be the
// one the block record names, and its body what the header describes.
func (s *Server) openBlock(ctx context.Context, rec *store.BlockRecord) (*verify.Prover, error) {
	if p := s.blocks.get(rec.BlockID); p != nil {
		return p, nil
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
	// v1 or v2 object: the Prover is per block, so the cache below keeps
	// a v2 block's opened sections and trees as it keeps a v1 body.
	p, err := verify.OpenProver(rec, obj, s.opts.OwnerKey)
	if err != nil {
		return nil, err
	}
	s.blocks.put(rec.BlockID, p)
	return p, nil
}

// blockCache keeps the last few opened blocks: a partner proving many
// readings of one block should not cost a decryption each.
type blockCache struct {
	mu   sync.Mutex
	size int
	ids  []string // most recent last
	byID map[string]*verify.Prover
}

func newBlockCache(size int) *blockCache {
	return &blockCache{size: size, byID: map[string]*verify.Prover{}}
}

func (c *blockCache) get(id string) *verify.Prover {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.byID[id]
	if p != nil {
		c.touch(id)
	}
	return p
}

func (c *blockCache) put(id string, p *verify.Prover) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byID[id]; !ok && len(c.ids) == c.size {
		delete(c.byID, c.ids[0])
		c.ids = c.ids[1:]
	}
	c.byID[id] = p
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
