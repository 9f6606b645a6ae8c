// Package retention keeps the appliance's local store within its policy:
// readings of anchored blocks older than a number of days, or beyond a
// number of bytes, are deleted locally (oldest first). Their blocks stay in
// storage and their credentials on the ledger; nothing that is not yet
// uploaded and anchored is ever pruned.
package retention

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
)

// Policy says what to keep. Zero values disable a limit.
type Policy struct {
	KeepFor   time.Duration // keep readings of blocks whose last reading is younger
	KeepBytes uint64        // prune oldest anchored blocks while the store is larger
	// Consumed, if set, is the highest seq every local consumer of readings
	// (MQTT publisher, grants' live streams, aggregator) has finished with; blocks holding later
	// readings are kept so store-and-forward loses nothing.
	Consumed func() uint64
}

// Pruner applies a Policy to a store. Its methods are safe for concurrent
// use: retention and the disk budget share one.
type Pruner struct {
	mu     sync.Mutex
	st     *store.Store
	policy Policy
	log    *slog.Logger
}

// New returns a pruner.
func New(st *store.Store, policy Policy, log *slog.Logger) *Pruner {
	return &Pruner{st: st, policy: policy, log: log}
}

const cursorName = "retention"

// Prune deletes what the policy no longer keeps and returns how many
// blocks' readings it deleted. It stops at the first block that is still
// kept or not yet anchored, since blocks are in time order.
func (p *Pruner) Prune(now time.Time) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.prune(now, p.policy.KeepFor, p.policy.KeepBytes)
}

// Free prunes anchored blocks, oldest first, until the store is estimated
// to be at most target bytes, whatever their age: what the disk budget
// does before its policy touches anything unanchored, since anchored
// blocks are safe in storage and on the ledger. Blocks a local consumer
// has not finished with stay.
func (p *Pruner) Free(target uint64) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.prune(time.Now(), 0, max(target, 1))
}

func (p *Pruner) prune(now time.Time, keepFor time.Duration, keepBytes uint64) (int, error) {
	if keepFor == 0 && keepBytes == 0 {
		return 0, nil
	}
	from, err := p.st.Cursor(cursorName)
	if err != nil {
		return 0, err
	}
	size, err := p.st.Size()
	if err != nil {
		return 0, fmt.Errorf("retention: %w", err)
	}
	consumed := ^uint64(0)
	if p.policy.Consumed != nil {
		consumed = p.policy.Consumed()
	}
	var blocks []*store.BlockRecord
	err = p.st.Blocks(from, func(b *store.BlockRecord) (bool, error) {
		if b.State != store.Anchored || b.LastSeq > consumed {
			return false, nil
		}
		old := keepFor > 0 && now.Sub(time.Unix(0, lastTime(b))) > keepFor
		big := keepBytes > 0 && size > keepBytes
		if !old && !big {
			return false, nil
		}
		blocks = append(blocks, b)
		// Deleted bytes come back only after compaction; estimate them so
		// a size limit does not prune everything in one pass.
		size -= min(size, p.estimate(b))
		return true, nil
	})
	if err != nil {
		return 0, err
	}
	for i, b := range blocks {
		if err := p.pruneBlock(b); err != nil {
			return i, err
		}
		if err := p.st.SetCursor(cursorName, b.Height+1); err != nil {
			return i + 1, err
		}
	}
	if len(blocks) > 0 {
		last := blocks[len(blocks)-1]
		if err := p.st.Compact(last.LastSeq, last.Height); err != nil {
			return len(blocks), err
		}
		p.log.Info("local readings pruned", "blocks", len(blocks), "through_height", blocks[len(blocks)-1].Height)
	}
	return len(blocks), nil
}

// lastTime is the appliance time of the block's newest reading.
func lastTime(b *store.BlockRecord) int64 {
	var h struct {
		LastTime int64 `cbor:"8,keyasint"`
	}
	if format.Unmarshal(b.Header, &h) != nil {
		return b.SealedAt
	}
	return h.LastTime
}

// estimate is roughly what pruning a block frees: its object and readings.
func (p *Pruner) estimate(b *store.BlockRecord) uint64 {
	obj, err := p.st.Object(b.Height)
	if err != nil {
		return 0
	}
	return uint64(len(obj)) * 2 // the object and the readings it encrypts
}

func (p *Pruner) pruneBlock(b *store.BlockRecord) error {
	// A block's data goes in one batch, so a missing first reading means
	// it is gone already: dropped by the disk budget, or pruned just before
	// a crash that lost the cursor. Its index entries cannot be listed any
	// more; only move past it.
	if b.Dropped {
		return nil
	}
	if _, err := p.st.Reading(b.FirstSeq); store.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("retention: block %d: %w", b.Height, err)
	}
	index, polls, err := p.blockData(b)
	if err != nil {
		return err
	}
	return p.st.PruneBlock(b.Height, index, polls)
}

// DropOldest deletes the readings and objects of the oldest sealed blocks
// not yet uploaded, until an estimated excess bytes are freed: the
// drop_oldest_unanchored disk-budget policy, which trades those readings
// for the appliance's ability to keep polling. Their credentials are still
// anchored (see outbox.DroppedLocation). It returns the heights dropped.
func (p *Pruner) DropOldest(excess uint64) ([]uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var victims []*store.BlockRecord
	freed := uint64(0)
	err := p.st.Blocks(0, func(b *store.BlockRecord) (bool, error) {
		if b.State != store.Sealed || b.Dropped {
			return true, nil
		}
		victims = append(victims, b)
		freed += p.estimate(b)
		return freed < excess, nil
	})
	if err != nil {
		return nil, err
	}
	var dropped []uint64
	for _, b := range victims {
		index, polls, err := p.blockData(b)
		if err != nil {
			return dropped, err
		}
		if err := p.st.DropBlock(b.Height, index, polls); err != nil {
			return dropped, err
		}
		dropped = append(dropped, b.Height)
	}
	if len(dropped) > 0 {
		last := victims[len(dropped)-1]
		return dropped, p.st.Compact(last.LastSeq, last.Height)
	}
	return dropped, nil
}

// blockData lists a block's index entries and poll records.
func (p *Pruner) blockData(b *store.BlockRecord) ([]store.IndexEntry, []uint64, error) {
	raw, err := p.st.Readings(b.FirstSeq, b.LastSeq)
	if err != nil {
		return nil, nil, fmt.Errorf("retention: block %d: %w", b.Height, err)
	}
	index := make([]store.IndexEntry, len(raw))
	for i, r := range raw {
		rd, err := reading.Decode(r)
		if err != nil {
			return nil, nil, fmt.Errorf("retention: block %d: %w", b.Height, err)
		}
		index[i] = store.IndexEntry{Device: rd.DeviceID, Point: rd.Point, Time: rd.ApplianceTime, Seq: rd.Seq}
	}
	var polls []uint64
	err = p.st.Polls(b.FirstSeq, func(first uint64, _ []byte) (bool, error) {
		if first > b.LastSeq {
			return false, nil
		}
		polls = append(polls, first)
		return true, nil
	})
	return index, polls, err
}
