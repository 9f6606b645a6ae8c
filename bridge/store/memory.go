package store

// Memory is what RocksDB holds in memory outside the Go heap, for operators
// and the memory benchmark (docs/BENCHMARKS.md).
type Memory struct {
	Memtables    uint64 // every column family's memtables, including those being flushed
	BlockCache   uint64 // cached table blocks, index and filter blocks included
	TableReaders uint64 // open table files' readers, outside the block cache
}

// Memory reports RocksDB's memory use now.
func (s *Store) Memory() Memory {
	var m Memory
	for _, h := range s.handles {
		if v, ok := s.db.GetIntPropertyCF("rocksdb.cur-size-all-mem-tables", h); ok {
			m.Memtables += v
		}
		if v, ok := s.db.GetIntPropertyCF("rocksdb.estimate-table-readers-mem", h); ok {
			m.TableReaders += v
		}
	}
	if s.cache != nil {
		m.BlockCache = s.cache.GetUsage()
	}
	return m
}
