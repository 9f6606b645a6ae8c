package store

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

var metaNextSeq = []byte("next_seq")

// NextSeq is the sequence number the next reading gets (1 for an empty store).
func (s *Store) NextSeq() (uint64, error) {
	v, err := s.get(cfMeta, metaNextSeq)
	if errors.Is(err, ErrNotFound) {
		return 1, nil
	}
	if err != nil {
		return 0, err
	}
	return getU64(v)
}

// StoredReading is one reading in the form the ingest stage commits.
type StoredReading struct {
	Seq     uint64
	Device  string
	Point   string
	Time    int64 // appliance time, Unix ns
	Encoded []byte
}

// CommitPoll durably stores one signed poll: its readings (consecutive seqs
// from FirstSeq), their index entries, the poll record and the next seq, in
// one synced batch. Either all of it survives a crash or none of it.
func (s *Store) CommitPoll(firstSeq uint64, readings []StoredReading, pollRecord []byte) error {
	if len(readings) == 0 {
		return errors.New("store: empty poll")
	}
	b := s.newBatch()
	for i, r := range readings {
		if r.Seq != firstSeq+uint64(i) {
			b.wb.Destroy()
			return fmt.Errorf("store: poll reading %d has seq %d, want %d", i, r.Seq, firstSeq+uint64(i))
		}
		b.put(cfReadings, u64(r.Seq), r.Encoded)
		b.put(cfIndex, indexKey(r.Device, r.Point, r.Time, r.Seq), nil)
	}
	b.put(cfPolls, u64(firstSeq), pollRecord)
	b.put(cfMeta, metaNextSeq, u64(firstSeq+uint64(len(readings))))
	return b.commit()
}

// Reading returns the canonical bytes of reading seq.
func (s *Store) Reading(seq uint64) ([]byte, error) {
	v, err := s.get(cfReadings, u64(seq))
	if err != nil {
		return nil, fmt.Errorf("reading %d: %w", seq, err)
	}
	return v, nil
}

// Readings returns readings first..last inclusive; a gap is an error.
func (s *Store) Readings(first, last uint64) ([][]byte, error) {
	if last < first {
		return nil, fmt.Errorf("store: reading range %d..%d is inverted", first, last)
	}
	out := make([][]byte, 0, last-first+1)
	next := first
	err := s.scan(cfReadings, u64(first), u64(last+1), func(k, v []byte) (bool, error) {
		seq, err := getU64(k)
		if err != nil {
			return false, err
		}
		if seq != next {
			return false, fmt.Errorf("store: reading %d missing", next)
		}
		next++
		out = append(out, v)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if next != last+1 {
		return nil, fmt.Errorf("store: reading %d missing", next)
	}
	return out, nil
}

// Polls calls fn with each poll record whose first seq is >= from, in order.
func (s *Store) Polls(from uint64, fn func(firstSeq uint64, record []byte) (bool, error)) error {
	return s.scan(cfPolls, u64(from), nil, func(k, v []byte) (bool, error) {
		seq, err := getU64(k)
		if err != nil {
			return false, err
		}
		return fn(seq, v)
	})
}

// PollAt returns the poll record whose range holds seq.
func (s *Store) PollAt(seq uint64) (firstSeq uint64, record []byte, err error) {
	k, v, err := s.seekForPrev(cfPolls, u64(seq))
	if err != nil {
		return 0, nil, fmt.Errorf("poll holding reading %d: %w", seq, err)
	}
	first, err := getU64(k)
	if err != nil {
		return 0, nil, err
	}
	// Polls are contiguous, so the poll starting at or before seq holds it
	// exactly when seq has been assigned.
	next, err := s.NextSeq()
	if err != nil {
		return 0, nil, err
	}
	if seq >= next {
		return 0, nil, fmt.Errorf("poll holding reading %d: %w", seq, ErrNotFound)
	}
	return first, v, nil
}

// indexKey orders a point's readings by appliance time, then seq. Device ids
// and point names never contain NUL (the config refuses them).
func indexKey(device, point string, t int64, seq uint64) []byte {
	var b bytes.Buffer
	b.WriteString(device)
	b.WriteByte(0)
	b.WriteString(point)
	b.WriteByte(0)
	b.Write(u64(uint64(t)))
	b.Write(u64(seq))
	return b.Bytes()
}

// FindSeq returns the seq of the reading of device/point taken at or most
// recently before t (Unix ns).
func (s *Store) FindSeq(device, point string, t int64) (uint64, error) {
	if strings.ContainsRune(device, 0) || strings.ContainsRune(point, 0) {
		return 0, errors.New("store: device or point contains NUL")
	}
	prefix := indexKey(device, point, 0, 0)[:len(device)+len(point)+2]
	k, _, err := s.seekForPrev(cfIndex, indexKey(device, point, t, ^uint64(0)))
	if err != nil || !bytes.HasPrefix(k, prefix) || len(k) != len(prefix)+16 {
		return 0, fmt.Errorf("no reading of %s/%s at or before the given time: %w", device, point, ErrNotFound)
	}
	return getU64(k[len(prefix)+8:])
}

// PointReadings calls fn with the seqs of device/point readings taken in [from, to] (Unix ns).
func (s *Store) PointReadings(device, point string, from, to int64, fn func(seq uint64) (bool, error)) error {
	prefixLen := len(device) + len(point) + 2
	return s.scan(cfIndex, indexKey(device, point, from, 0), indexKey(device, point, to, ^uint64(0)), func(k, _ []byte) (bool, error) {
		if len(k) != prefixLen+16 {
			return false, fmt.Errorf("store: corrupt index key of %d bytes", len(k))
		}
		seq, err := getU64(k[prefixLen+8:])
		if err != nil {
			return false, err
		}
		return fn(seq)
	})
}
