package httpapi

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

const (
	defaultBlocksLimit = 100
	maxBlocksLimit     = 1000
)

// blockJSON is a block record with its header's ranges.
type blockJSON struct {
	Height     uint64    `json:"height"`
	ID         string    `json:"id"`
	PrevID     string    `json:"prev_id,omitempty"`
	FirstSeq   uint64    `json:"first_seq"`
	LastSeq    uint64    `json:"last_seq"`
	Count      uint64    `json:"count"`
	FirstTime  time.Time `json:"first_time"`
	LastTime   time.Time `json:"last_time"`
	Devices    []string  `json:"devices"`
	MerkleRoot string    `json:"merkle_root"`
	State      string    `json:"state"`
	SealedAt   time.Time `json:"sealed_at"`
	ObjectHash string    `json:"object_hash"`
	Location   string    `json:"location,omitempty"` // set once uploaded
}

func toBlockJSON(rec *store.BlockRecord) (blockJSON, error) {
	h, err := format.ParseHeader(rec.Header)
	if err != nil {
		return blockJSON{}, fmt.Errorf("block %d: %w", rec.Height, err)
	}
	return blockJSON{
		Height: rec.Height, ID: rec.BlockID, PrevID: hex.EncodeToString(h.PrevHash),
		FirstSeq: rec.FirstSeq, LastSeq: rec.LastSeq, Count: h.Count,
		FirstTime: time.Unix(0, h.FirstTime).UTC(), LastTime: time.Unix(0, h.LastTime).UTC(),
		Devices: h.Devices, MerkleRoot: hex.EncodeToString(h.MerkleRoot),
		State: rec.State.String(), SealedAt: time.Unix(0, rec.SealedAt).UTC(),
		ObjectHash: rec.ObjectHash, Location: rec.Location,
	}, nil
}

type blocksJSON struct {
	Blocks []blockJSON `json:"blocks"`
	// NextFromHeight is the from_height of the next page; absent on the
	// last page.
	NextFromHeight *uint64 `json:"next_from_height,omitempty"`
}

// handleBlocks lists blocks in height order from from_height, at most
// limit of them. Without from_height it lists the latest limit blocks.
func (s *Server) handleBlocks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	err := checkParams(q, "from_height", "limit")
	var limit int
	if err == nil {
		limit, err = parseLimit(q, defaultBlocksLimit, maxBlocksLimit)
	}
	if err == nil {
		err = s.needStore()
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st := s.opts.Store
	var from uint64
	if v := q.Get("from_height"); v != "" {
		if from, err = strconv.ParseUint(v, 10, 64); err != nil {
			s.writeError(w, r, badParam("from_height", "%q is not a block height (a whole number from 0)", v))
			return
		}
	} else if last, err := st.LastBlock(); err == nil {
		from = (last.Height + 1) - min(last.Height+1, uint64(limit))
	} else if !store.IsNotFound(err) {
		s.writeError(w, r, err)
		return
	}
	out := blocksJSON{Blocks: []blockJSON{}}
	err = st.Blocks(from, func(rec *store.BlockRecord) (bool, error) {
		if len(out.Blocks) == limit {
			next := rec.Height
			out.NextFromHeight = &next
			return false, nil
		}
		b, err := toBlockJSON(rec)
		if err != nil {
			return false, err
		}
		out.Blocks = append(out.Blocks, b)
		return true, nil
	})
	if err != nil {
		s.writeError(w, r, fmt.Errorf("list blocks from %d: %w", from, err))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleBlock(w http.ResponseWriter, r *http.Request) {
	err := checkParams(r.URL.Query())
	var rec *store.BlockRecord
	if err == nil {
		rec, err = s.findBlock(r.Context(), r.PathValue("id"))
	}
	var b blockJSON
	if err == nil {
		b, err = toBlockJSON(rec)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// findBlock resolves a block height (decimal) or block id (64 hex digits).
// The store keys blocks by height, so an id is looked up among the pending
// blocks of the outbox, then through the ledger's credential (which names
// the height), and only without a ledger by scanning the store.
func (s *Server) findBlock(ctx context.Context, id string) (*store.BlockRecord, error) {
	if err := s.needStore(); err != nil {
		return nil, err
	}
	st := s.opts.Store
	notFound := func(err error) error {
		if store.IsNotFound(err) || errors.Is(err, rules.ErrNotFound) {
			return withStatus(http.StatusNotFound, fmt.Errorf("block %s: %w", id, store.ErrNotFound))
		}
		return err
	}
	if len(id) <= 20 {
		height, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			return nil, badParam("id", "%q is neither a block height nor a 64-digit hex block id", id)
		}
		rec, err := st.Block(height)
		return rec, notFound(err)
	}
	if _, err := hex.DecodeString(id); err != nil || len(id) != 64 {
		return nil, badParam("id", "%q is neither a block height nor a 64-digit hex block id", id)
	}
	pending, err := st.Outbox()
	if err != nil {
		return nil, err
	}
	for _, h := range pending {
		rec, err := st.Block(h)
		if err != nil {
			return nil, err
		}
		if rec.BlockID == id {
			return rec, nil
		}
	}
	if s.opts.Credentials != nil {
		cred, err := s.opts.Credentials.Credential(ctx, id)
		if err != nil {
			return nil, notFound(fmt.Errorf("block %s on the ledger: %w", id, err))
		}
		rec, err := st.Block(cred.Height)
		if err != nil {
			return nil, notFound(err)
		}
		if rec.BlockID != id {
			// Another appliance's block on a shared ledger.
			return nil, notFound(store.ErrNotFound)
		}
		return rec, nil
	}
	var found *store.BlockRecord
	err = st.Blocks(0, func(rec *store.BlockRecord) (bool, error) {
		if rec.BlockID == id {
			found = rec
			return false, nil
		}
		return true, ctx.Err()
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, notFound(store.ErrNotFound)
	}
	return found, nil
}
