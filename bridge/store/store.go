// Package store is the appliance's durable state in RocksDB (through
// grocksdb, cgo). Column families keep each kind of record apart:
//
//	readings  seq            -> canonical reading bytes
//	polls     first seq      -> signed poll record
//	index     device,point,time,seq -> (empty)   lookups by point and time
//	blocks    height         -> block record (header, signature, state)
//	blockseq  last seq       -> height           which block holds a seq
//	objects   height         -> encrypted block object, kept until anchored
//	outbox    height         -> (empty)          blocks not yet anchored
//	meta      name           -> counters (next seq, seal position)
//	ledger    key            -> embedded ledger world state
//
// Every write that acknowledges data is a synced WriteBatch: once a method
// returns nil the data survives a power cut.
package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/linxGnu/grocksdb"
)

type cf int

const (
	cfDefault cf = iota
	cfReadings
	cfPolls
	cfIndex
	cfBlocks
	cfBlockSeq
	cfObjects
	cfOutbox
	cfMeta
	cfLedger
	cfCount
)

var cfNames = [cfCount]string{"default", "readings", "polls", "index", "blocks", "blockseq", "objects", "outbox", "meta", "ledger"}

// memtableBudget bounds the memory of all memtables together, and
// blockCacheSize that of cached table blocks (data, index and filters).
const (
	memtableBudget = 32 << 20
	blockCacheSize = 16 << 20
)

// ErrNotFound is returned (wrapped) when a record does not exist.
var ErrNotFound = errors.New("not found")

// Store is an open RocksDB database. It is safe for concurrent use; callers
// that assign sequence numbers or heights serialise themselves.
type Store struct {
	dir     string
	db      *grocksdb.DB
	handles []*grocksdb.ColumnFamilyHandle
	opts    *grocksdb.Options
	small   *grocksdb.Options // the small families'; nil when read-only
	ro      *grocksdb.ReadOptions
	wo      *grocksdb.WriteOptions
	bbto    *grocksdb.BlockBasedTableOptions // nil when read-only
	cache   *grocksdb.Cache                  // nil when read-only
}

// smallFamily reports the families that hold a few records per block, not
// per reading.
func smallFamily(c cf) bool {
	switch c {
	case cfReadings, cfPolls, cfIndex, cfObjects:
		return false
	}
	return true
}

// maxWAL bounds the write-ahead log; WALLimit lowers it.
const maxWAL = 2 * memtableBudget

// The info log's bound: infoLogKeep files of at most infoLogMax bytes.
const (
	infoLogMax  = 4 << 20
	infoLogKeep = 3
)

// Option changes how Open opens the database.
type Option func(*openConfig)

type openConfig struct{ maxWAL uint64 }

// WALLimit lowers the bound on the write-ahead log's total size (64 MiB by
// default), for a disk budget small enough for the log to matter: the log
// counts in Size like everything else on disk.
func WALLimit(bytes uint64) Option {
	return func(c *openConfig) {
		if bytes > 0 {
			c.maxWAL = min(c.maxWAL, bytes)
		}
	}
}

// Open opens or creates the database in dir.
func Open(dir string, options ...Option) (*Store, error) {
	oc := openConfig{maxWAL: maxWAL}
	for _, o := range options {
		o(&oc)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create %s: %w", dir, err)
	}
	opts := grocksdb.NewDefaultOptions()
	opts.SetCreateIfMissing(true)
	opts.SetCreateIfMissingColumnFamilies(true)
	opts.SetCompression(grocksdb.LZ4Compression)
	// RocksDB's own info log would otherwise grow and roll without bound
	// (it keeps 1000 old files by default) and count against the disk
	// budget: a few MiB of it is enough to diagnose a problem.
	opts.SetMaxLogFileSize(infoLogMax)
	opts.SetKeepLogFileNum(infoLogKeep)
	opts.SetInfoLogLevel(grocksdb.WarnInfoLogLevel)
	// A log file stays until every family with data in it is flushed, and
	// the rarely written families (blocks, ledger, outbox) would hold logs
	// for long: past this total, RocksDB flushes them.
	opts.SetMaxTotalWalSize(oc.maxWAL)
	// RocksDB's default memtable is 64 MiB per column family, and readings,
	// index and objects each take a steady stream, so resident memory grew
	// past 200 MiB at 10,000 points a second (docs/BENCHMARKS.md). One
	// budget for all families bounds it: RocksDB flushes the largest
	// memtable when the budget is reached.
	opts.SetDbWriteBufferSize(memtableBudget)
	opts.SetWriteBufferSize(memtableBudget / 2)
	// Index and filter blocks live in the (bounded) block cache instead of
	// beside every open table file, so memory does not grow with the data.
	cache := grocksdb.NewLRUCache(blockCacheSize)
	bbto := grocksdb.NewDefaultBlockBasedTableOptions()
	bbto.SetBlockCache(cache)
	bbto.SetCacheIndexAndFilterBlocks(true)
	bbto.SetPinL0FilterAndIndexBlocksInCache(true)
	opts.SetBlockBasedTableFactory(bbto)
	// The small families take a few records per block and are flushed
	// often by the log limit above. Levelled compaction moves each of their
	// flushes down as one more small file, since their keys only grow;
	// universal compaction merges them, so the number of files stays small.
	small := opts.Clone()
	small.SetCompactionStyle(grocksdb.UniversalCompactionStyle)
	cfOpts := make([]*grocksdb.Options, cfCount)
	for i := range cfOpts {
		cfOpts[i] = opts
		if smallFamily(cf(i)) {
			cfOpts[i] = small
		}
	}
	db, handles, err := grocksdb.OpenDbColumnFamilies(opts, dir, cfNames[:], cfOpts)
	if err != nil {
		opts.Destroy()
		small.Destroy()
		bbto.Destroy()
		cache.Destroy()
		if strings.Contains(err.Error(), "lock file") {
			return nil, fmt.Errorf("store %s is in use by a running appliance; stop it first: %w", dir, err)
		}
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	wo := grocksdb.NewDefaultWriteOptions()
	wo.SetSync(true)
	return &Store{dir: dir, db: db, handles: handles, opts: opts, small: small, bbto: bbto, cache: cache, ro: grocksdb.NewDefaultReadOptions(), wo: wo}, nil
}

// OpenReadOnly opens the database for reading while an appliance may be
// running on it (RocksDB read-only mode takes no lock). It sees the state as
// of opening.
func OpenReadOnly(dir string) (*Store, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	opts := grocksdb.NewDefaultOptions()
	cfOpts := make([]*grocksdb.Options, cfCount)
	for i := range cfOpts {
		cfOpts[i] = opts
	}
	db, handles, err := grocksdb.OpenDbForReadOnlyColumnFamilies(opts, dir, cfNames[:], cfOpts, false)
	if err != nil {
		opts.Destroy()
		return nil, fmt.Errorf("store: open %s read-only: %w", dir, err)
	}
	return &Store{dir: dir, db: db, handles: handles, opts: opts, ro: grocksdb.NewDefaultReadOptions(), wo: grocksdb.NewDefaultWriteOptions()}, nil
}

// Close releases the database. Pending writes are already durable.
func (s *Store) Close() {
	for _, h := range s.handles {
		h.Destroy()
	}
	s.db.Close()
	s.ro.Destroy()
	s.wo.Destroy()
	s.opts.Destroy()
	if s.small != nil {
		s.small.Destroy()
	}
	if s.bbto != nil {
		s.bbto.Destroy()
		s.cache.Destroy()
	}
}

func (s *Store) h(c cf) *grocksdb.ColumnFamilyHandle { return s.handles[c] }

// get returns a copy of the value, or ErrNotFound.
func (s *Store) get(c cf, key []byte) ([]byte, error) {
	sl, err := s.db.GetCF(s.ro, s.h(c), key)
	if err != nil {
		return nil, fmt.Errorf("store: read %s: %w", cfNames[c], err)
	}
	defer sl.Free()
	if !sl.Exists() {
		return nil, ErrNotFound
	}
	return append([]byte(nil), sl.Data()...), nil
}

// batch collects writes applied atomically and durably by commit.
type batch struct {
	s  *Store
	wb *grocksdb.WriteBatch
}

func (s *Store) newBatch() *batch { return &batch{s: s, wb: grocksdb.NewWriteBatch()} }

func (b *batch) put(c cf, k, v []byte) { b.wb.PutCF(b.s.h(c), k, v) }
func (b *batch) del(c cf, k []byte)    { b.wb.DeleteCF(b.s.h(c), k) }

func (b *batch) commit() error {
	defer b.wb.Destroy()
	if err := b.s.db.Write(b.s.wo, b.wb); err != nil {
		return fmt.Errorf("store: write: %w", err)
	}
	return nil
}

// scan calls fn for each key in [from, to) of the family (to nil = to the end)
// in key order until fn returns false. Key and value are copies.
func (s *Store) scan(c cf, from, to []byte, fn func(k, v []byte) (bool, error)) error {
	ro := grocksdb.NewDefaultReadOptions()
	defer ro.Destroy()
	if to != nil {
		ro.SetIterateUpperBound(to)
	}
	it := s.db.NewIteratorCF(ro, s.h(c))
	defer it.Close()
	for it.Seek(from); it.Valid(); it.Next() {
		k := append([]byte(nil), it.Key().Data()...)
		v := append([]byte(nil), it.Value().Data()...)
		more, err := fn(k, v)
		if err != nil {
			return err
		}
		if !more {
			break
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("store: scan %s: %w", cfNames[c], err)
	}
	return nil
}

// last returns the greatest key <= at in the family, or ErrNotFound.
func (s *Store) seekForPrev(c cf, at []byte) (k, v []byte, err error) {
	it := s.db.NewIteratorCF(s.ro, s.h(c))
	defer it.Close()
	it.SeekForPrev(at)
	if !it.Valid() {
		if err := it.Err(); err != nil {
			return nil, nil, fmt.Errorf("store: seek %s: %w", cfNames[c], err)
		}
		return nil, nil, ErrNotFound
	}
	return append([]byte(nil), it.Key().Data()...), append([]byte(nil), it.Value().Data()...), nil
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func getU64(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("store: corrupt 8-byte key or counter of %d bytes", len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}
