package store

import "bytes"

// LedgerState is the embedded ledger's world state: a key-value space in its
// own column family, written one transaction at a time.
type LedgerState struct{ s *Store }

// Ledger returns the embedded ledger's state.
func (s *Store) Ledger() LedgerState { return LedgerState{s} }

// Get returns the committed value of key, or nil when absent: the embedded
// ledger's transactions read only committed state, as on Fabric.
func (l LedgerState) Get(key string) ([]byte, error) {
	v, err := l.s.get(cfLedger, []byte(key))
	if IsNotFound(err) {
		return nil, nil
	}
	return v, err
}

// Commit applies a transaction's write set durably and atomically.
func (l LedgerState) Commit(writes map[string][]byte) error {
	b := l.s.newBatch()
	for k, v := range writes {
		b.put(cfLedger, []byte(k), v)
	}
	return b.commit()
}

// Scan calls fn for keys with prefix, starting at start (inclusive; empty = prefix).
func (l LedgerState) Scan(prefix, start string, fn func(k string, v []byte) (bool, error)) error {
	from := []byte(prefix)
	if start != "" {
		from = []byte(start)
	}
	return l.s.scan(cfLedger, from, prefixEnd([]byte(prefix)), func(k, v []byte) (bool, error) {
		if !bytes.HasPrefix(k, []byte(prefix)) {
			return false, nil
		}
		return fn(string(k), v)
	})
}

// prefixEnd is the smallest key greater than every key with prefix p, or nil.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
