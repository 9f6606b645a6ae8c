package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/linxGnu/grocksdb"
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

// Poll is one signed poll as the ingest stage commits it: its readings
// carry consecutive seqs from FirstSeq, and Record is the signed poll record.
//
// A v2 poll (Indexed) is also numbered among its device's polls: Index must
// be the device's next poll index (NextPollIndex, counting earlier polls of
// the same commit), and CommitPolls advances the counter in the same batch,
// so an index is durable exactly when its poll is and is never given twice:
// a poll index selects the poll's keys (bridge/keytree), and a key that
// encrypted two sections would break both.
type Poll struct {
	FirstSeq uint64
	Readings []StoredReading
	Record   []byte
	Indexed  bool
	Device   string // the device whose counter Index is, when Indexed
	Index    uint64
}

func pollIndexKey(device string) []byte { return []byte("next_poll_index/" + device) }

// NextPollIndex is the poll index the device's next v2 poll gets: 0 for a
// device that has none.
func (s *Store) NextPollIndex(device string) (uint64, error) {
	v, err := s.get(cfMeta, pollIndexKey(device))
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("next poll index of %s: %w", device, err)
	}
	return getU64(v)
}

// CommitPoll durably stores one signed poll: its readings (consecutive seqs
// from FirstSeq), their index entries, the poll record and the next seq, in
// one synced batch. Either all of it survives a crash or none of it.
func (s *Store) CommitPoll(firstSeq uint64, readings []StoredReading, pollRecord []byte) error {
	return s.CommitPolls([]Poll{{FirstSeq: firstSeq, Readings: readings, Record: pollRecord}})
}

// CommitPolls durably stores several consecutive polls in one synced batch
// (group commit: one fsync for all of them). The polls must follow each
// other without a gap; the next seq is written once, after the last one.
// Either every poll survives a crash or none does.
func (s *Store) CommitPolls(polls []Poll) error {
	if len(polls) == 0 {
		return errors.New("store: no polls to commit")
	}
	b := s.newBatch()
	// RocksDB copies keys into the batch, so one scratch buffer serves every
	// key: no allocation per reading on the ingest hot path.
	var key []byte
	next := polls[0].FirstSeq
	var nextIndex map[string]uint64 // devices with v2 polls in this batch
	for _, p := range polls {
		if len(p.Readings) == 0 {
			b.wb.Destroy()
			return errors.New("store: empty poll")
		}
		if p.FirstSeq != next {
			b.wb.Destroy()
			return fmt.Errorf("store: poll at seq %d does not follow seq %d", p.FirstSeq, next-1)
		}
		if p.Indexed {
			if nextIndex == nil {
				nextIndex = map[string]uint64{}
			}
			want, seen := nextIndex[p.Device]
			if !seen {
				var err error
				if want, err = s.NextPollIndex(p.Device); err != nil {
					b.wb.Destroy()
					return fmt.Errorf("store: %w", err)
				}
			}
			if p.Index != want {
				b.wb.Destroy()
				return fmt.Errorf("store: poll at seq %d is poll %d of %s, want %d", p.FirstSeq, p.Index, p.Device, want)
			}
			nextIndex[p.Device] = want + 1
		}
		for i, r := range p.Readings {
			if r.Seq != p.FirstSeq+uint64(i) {
				b.wb.Destroy()
				return fmt.Errorf("store: poll reading %d has seq %d, want %d", i, r.Seq, p.FirstSeq+uint64(i))
			}
			if p.Indexed && r.Device != p.Device {
				b.wb.Destroy()
				return fmt.Errorf("store: poll %d of %s holds a reading of %s", p.Index, p.Device, r.Device)
			}
			key = binary.BigEndian.AppendUint64(key[:0], r.Seq)
			b.put(cfReadings, key, r.Encoded)
			key = appendIndexKey(key[:0], r.Device, r.Point, r.Time, r.Seq)
			b.put(cfIndex, key, nil)
		}
		key = binary.BigEndian.AppendUint64(key[:0], p.FirstSeq)
		b.put(cfPolls, key, p.Record)
		next = p.FirstSeq + uint64(len(p.Readings))
	}
	b.put(cfMeta, metaNextSeq, u64(next))
	for device, n := range nextIndex {
		b.put(cfMeta, pollIndexKey(device), u64(n))
	}
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

// maxArena bounds one allocation of Readings' value arena.
const maxArena = 4 << 20

// Readings returns readings first..last inclusive; a gap is an error.
func (s *Store) Readings(first, last uint64) ([][]byte, error) {
	if last < first {
		return nil, fmt.Errorf("store: reading range %d..%d is inverted", first, last)
	}
	// The sealer reads whole blocks through here: the values are copied into
	// one arena (one allocation, not one per reading) and keys are checked
	// in place, without copies.
	ro := grocksdb.NewDefaultReadOptions()
	defer ro.Destroy()
	ro.SetIterateUpperBound(u64(last + 1))
	it := s.db.NewIteratorCF(ro, s.h(cfReadings))
	defer it.Close()
	out := make([][]byte, 0, last-first+1)
	var arena []byte
	copied := 0
	next := first
	for it.Seek(u64(first)); it.Valid(); it.Next() {
		seq, err := getU64(it.Key().Data())
		if err != nil {
			return nil, err
		}
		if seq != next {
			return nil, fmt.Errorf("store: reading %d missing", next)
		}
		v := it.Value().Data()
		if len(arena)+len(v) > cap(arena) {
			// Size the arena for the readings still to come, from the
			// average size so far, in pieces of at most maxArena.
			avg := len(v)
			if n := len(out); n > 0 {
				avg = max(avg, copied/n)
			}
			want := uint64(avg+avg/8) * min(last-next+1, maxArena)
			arena = make([]byte, 0, max(len(v), int(min(want, maxArena))))
		}
		copied += len(v)
		start := len(arena)
		arena = append(arena, v...)
		out = append(out, arena[start:len(arena):len(arena)])
		next++
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("store: scan readings: %w", err)
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
	return appendIndexKey(make([]byte, 0, len(device)+len(point)+18), device, point, t, seq)
}

func appendIndexKey(b []byte, device, point string, t int64, seq uint64) []byte {
	b = append(b, device...)
	b = append(b, 0)
	b = append(b, point...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(t))
	return binary.BigEndian.AppendUint64(b, seq)
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

// SeqReader reads readings by sequence number; *Store is one.
type SeqReader interface {
	Reading(seq uint64) ([]byte, error)
	Readings(first, last uint64) ([][]byte, error)
	BlockForSeq(seq uint64) (*BlockRecord, error)
}

// ReadUpToGap reads readings first..last for a consumer that follows the
// store (publisher, aggregator), or fewer when a deleted range starts
// inside it. When reading first itself was deleted (retention and the disk
// budget delete whole sealed blocks), it returns the block that held it
// instead, so the consumer can move past it.
func ReadUpToGap(st SeqReader, first, last uint64) ([][]byte, *BlockRecord, error) {
	raws, err := st.Readings(first, last)
	if err == nil {
		return raws, nil, nil
	}
	var out [][]byte
	for seq := first; seq <= last; seq++ {
		raw, rerr := st.Reading(seq)
		if rerr == nil {
			out = append(out, raw)
			continue
		}
		if len(out) > 0 {
			return out, nil, nil // up to the gap; the next read meets it first
		}
		if !IsNotFound(rerr) {
			return nil, nil, rerr
		}
		rec, berr := st.BlockForSeq(seq)
		if berr != nil {
			return nil, nil, fmt.Errorf("%w, and no sealed block holds reading %d: %v", err, seq, berr)
		}
		return nil, rec, nil
	}
	return out, nil, nil
}
