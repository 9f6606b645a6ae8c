package store

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/fxamacker/cbor/v2"
	"github.com/linxGnu/grocksdb"
)

// IndexEntry names one point-index entry, for pruning.
type IndexEntry struct {
	Device, Point string
	Time          int64
	Seq           uint64
}

// PruneBlock deletes the local copy of an anchored block's readings: the
// readings, their index entries, the polls and the local encrypted object,
// in one synced batch. The block record stays (it is small, and proves what
// was there); the object stays in storage and its credential on the ledger.
// A block that is not anchored is refused: nothing unanchored is ever pruned.
func (s *Store) PruneBlock(height uint64, index []IndexEntry, pollFirsts []uint64) error {
	rec, err := s.Block(height)
	if err != nil {
		return err
	}
	if rec.State != Anchored {
		return fmt.Errorf("store: block %d is %s; only anchored blocks are pruned", height, rec.State)
	}
	return s.deleteBlockData(rec, index, pollFirsts, nil)
}

// DropBlock deletes a sealed block's readings and object before upload, as
// the drop_oldest_unanchored disk-budget policy does, and marks the record
// Dropped. The block stays in the outbox: its credential is anchored all
// the same, naming the data as dropped.
func (s *Store) DropBlock(height uint64, index []IndexEntry, pollFirsts []uint64) error {
	rec, err := s.Block(height)
	if err != nil {
		return err
	}
	if rec.State != Sealed || rec.Dropped {
		return fmt.Errorf("store: block %d is %s (dropped %v); only sealed blocks not yet uploaded are dropped", height, rec.State, rec.Dropped)
	}
	rec.Dropped = true
	v, err := cbor.Marshal(rec)
	if err != nil {
		return err
	}
	return s.deleteBlockData(rec, index, pollFirsts, v)
}

// deleteBlockData deletes a block's readings, index entries, polls and
// local object, and writes its new record when given, in one batch.
func (s *Store) deleteBlockData(rec *BlockRecord, index []IndexEntry, pollFirsts []uint64, newRecord []byte) error {
	height := rec.Height
	b := s.newBatch()
	b.wb.DeleteRangeCF(s.h(cfReadings), u64(rec.FirstSeq), u64(rec.LastSeq+1))
	for _, e := range index {
		if e.Seq < rec.FirstSeq || e.Seq > rec.LastSeq {
			b.wb.Destroy()
			return fmt.Errorf("store: index entry of reading %d is outside block %d", e.Seq, height)
		}
		b.del(cfIndex, indexKey(e.Device, e.Point, e.Time, e.Seq))
	}
	for _, f := range pollFirsts {
		b.del(cfPolls, u64(f))
	}
	b.del(cfObjects, u64(height))
	if newRecord != nil {
		b.put(cfBlocks, u64(height), newRecord)
	}
	return b.commit()
}

// Size is the bytes the store occupies on disk (SST files, logs, WAL).
func (s *Store) Size() (uint64, error) {
	var total uint64
	err := filepath.WalkDir(s.dir, func(_ string, d fs.DirEntry, err error) error {
		// RocksDB deletes obsolete logs and tables while it runs: a file
		// listed and gone a moment later no longer takes any space.
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			total += uint64(info.Size())
		}
		return nil
	})
	return total, err
}

// Compact reclaims the space of records deleted by PruneBlock and
// DropBlock, up to reading throughSeq and block throughHeight. Deleted
// records are oldest first, so the ranges are bounded: a large store does
// not rewrite what was not touched. The bottommost level is compacted too
// (RocksDB skips it by default), or each call's flushed memtable would be
// moved down as one more tiny table file, and their number would grow
// without bound on an appliance pruning every minute.
func (s *Store) Compact(throughSeq, throughHeight uint64) error {
	opt := grocksdb.NewCompactRangeOptions()
	defer opt.Destroy()
	opt.SetBottommostLevelCompaction(grocksdb.KForceOptimized)
	seqEnd, heightEnd := u64(throughSeq+1), u64(throughHeight+1)
	s.db.CompactRangeCFOpt(s.h(cfReadings), grocksdb.Range{Limit: seqEnd}, opt)
	s.db.CompactRangeCFOpt(s.h(cfPolls), grocksdb.Range{Limit: seqEnd}, opt)
	s.db.CompactRangeCFOpt(s.h(cfObjects), grocksdb.Range{Limit: heightEnd}, opt)
	// Index keys start with the device and point, so the deleted entries
	// are spread over the whole family.
	s.db.CompactRangeCFOpt(s.h(cfIndex), grocksdb.Range{}, opt)
	return nil
}
