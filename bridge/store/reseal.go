package store

import (
	"errors"
	"fmt"
)

// ResignedPoll is a stored poll's record signed again under another key.
type ResignedPoll struct {
	FirstSeq uint64
	Record   []byte
}

// Reseal undoes the sealing of blocks from height from on, which a key
// revocation stranded (bridge/reseal), and replaces the records of the
// polls from the first of those blocks' readings on by polls, signed again
// under the current key: in one synced batch, it deletes the blocks'
// records, seq index entries, local objects and outbox entries, and writes
// the new poll records. The readings themselves, their index entries and
// the devices' poll counters do not change. The sealer then continues
// from the last block kept (height from-1) and seals the readings again,
// at the same heights, under the current key.
//
// It is refused, changing nothing, when a block from height from on is
// anchored (an anchored block is never undone) or had its data dropped by
// the disk budget (there is nothing to re-seal), or when polls are not
// exactly the stored polls from that first reading on. The caller holds
// the store alone: no ingester, sealer or outbox runs meanwhile.
//
// One batch makes it crash-safe: a kill -9 before the commit leaves every
// stranded block in place (the next start finds them stranded again and
// redoes the same re-seal), after it none of them and every poll signed
// under the current key (the next start's sealer seals them). No state in
// between exists on disk: blocks gone with old-key polls would be sealed
// again under the old key, polls re-signed under blocks still sealed would
// make those blocks fail verification.
func (s *Store) Reseal(from uint64, polls []ResignedPoll) error {
	var blocks []*BlockRecord
	err := s.Blocks(from, func(b *BlockRecord) (bool, error) {
		switch {
		case b.State == Anchored:
			return false, fmt.Errorf("store: block %d is anchored; an anchored block is never re-sealed", b.Height)
		case b.Dropped:
			return false, fmt.Errorf("store: block %d was dropped by the disk budget: its readings are gone and it cannot be re-sealed", b.Height)
		}
		blocks = append(blocks, b)
		return true, nil
	})
	if err != nil {
		return err
	}
	if len(blocks) == 0 || blocks[0].Height != from {
		return fmt.Errorf("store: no block at height %d to re-seal: %w", from, ErrNotFound)
	}
	if err := s.checkResigned(blocks[0].FirstSeq, polls); err != nil {
		return err
	}
	b := s.newBatch()
	for _, rec := range blocks {
		b.del(cfBlocks, u64(rec.Height))
		b.del(cfBlockSeq, u64(rec.LastSeq))
		b.del(cfObjects, u64(rec.Height))
		b.del(cfOutbox, u64(rec.Height))
	}
	for _, p := range polls {
		b.put(cfPolls, u64(p.FirstSeq), p.Record)
	}
	return b.commit()
}

// checkResigned checks that polls replace the stored polls from seq first
// on, one for one and in order: a re-seal changes signatures, never which
// polls exist.
func (s *Store) checkResigned(first uint64, polls []ResignedPoll) error {
	i := 0
	err := s.Polls(first, func(seq uint64, _ []byte) (bool, error) {
		if i >= len(polls) || polls[i].FirstSeq != seq {
			return false, fmt.Errorf("store: re-sealed polls do not match the stored poll at seq %d", seq)
		}
		if len(polls[i].Record) == 0 {
			return false, fmt.Errorf("store: re-sealed poll at seq %d has no record", seq)
		}
		i++
		return true, nil
	})
	if err != nil {
		return err
	}
	if i != len(polls) {
		return errors.New("store: more re-sealed polls than polls stored")
	}
	return nil
}
