package store

import (
	"errors"
	"fmt"
)

var metaRunning = []byte("running")

// MarkRunning records that a run of the appliance started at startedAt
// (Unix ns) and returns the start of the previous run if that one never
// cleared its mark (it did not stop cleanly: killed, crashed, power cut),
// or 0.
func (s *Store) MarkRunning(startedAt int64) (uncleanSince int64, err error) {
	v, err := s.get(cfMeta, metaRunning)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return 0, fmt.Errorf("store: run mark: %w", err)
	default:
		prev, err := getU64(v)
		if err != nil {
			return 0, fmt.Errorf("store: run mark: %w", err)
		}
		uncleanSince = max(int64(prev), 1)
	}
	b := s.newBatch()
	b.put(cfMeta, metaRunning, u64(uint64(startedAt)))
	if err := b.commit(); err != nil {
		return 0, fmt.Errorf("store: run mark: %w", err)
	}
	return uncleanSince, nil
}

// ClearRunning removes the run mark: the run stopped cleanly, after its
// final seal.
func (s *Store) ClearRunning() error {
	b := s.newBatch()
	b.del(cfMeta, metaRunning)
	if err := b.commit(); err != nil {
		return fmt.Errorf("store: clear run mark: %w", err)
	}
	return nil
}
