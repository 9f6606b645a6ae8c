package store

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/linxGnu/grocksdb"
)

// DevicePoints returns the points of the device that have stored
// readings, in name order. The index is ordered by device and point, so
// each point costs one seek.
func (s *Store) DevicePoints(device string) ([]string, error) {
	if strings.ContainsRune(device, 0) {
		return nil, errors.New("store: device contains NUL")
	}
	prefix := append([]byte(device), 0)
	it := s.db.NewIteratorCF(s.ro, s.h(cfIndex))
	defer it.Close()
	var points []string
	for it.Seek(prefix); it.Valid(); {
		k := it.Key().Data()
		if !bytes.HasPrefix(k, prefix) {
			break
		}
		rest := k[len(prefix):]
		end := bytes.IndexByte(rest, 0)
		if end < 0 {
			return nil, fmt.Errorf("store: corrupt index key of %s", device)
		}
		point := string(rest[:end])
		points = append(points, point)
		// Past every key of this point: device\0point\1.
		it.Seek(append(append(bytes.Clone(prefix), point...), 1))
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("store: points of %s: %w", device, err)
	}
	return points, nil
}

// DeviceReading is one index entry of a device's reading.
type DeviceReading struct {
	Point string
	Time  int64 // appliance time, Unix ns
	Seq   uint64
}

// DeviceReadings calls fn with every reading of the device (every point)
// taken in [from, to] (Unix ns), in time order and, at one time, in seq
// order, until fn returns false. The index is ordered by point first, so
// the points are merged: one iterator per point is open during the call.
func (s *Store) DeviceReadings(device string, from, to int64, fn func(DeviceReading) (bool, error)) error {
	points, err := s.DevicePoints(device)
	if err != nil {
		return err
	}
	h := &pointHeap{}
	defer h.close()
	for _, p := range points {
		c := &pointCursor{point: p, prefixLen: len(device) + len(p) + 2, end: indexKey(device, p, to, math.MaxUint64)}
		c.it = s.db.NewIteratorCF(s.ro, s.h(cfIndex))
		h.all = append(h.all, c)
		c.it.Seek(indexKey(device, p, from, 0))
		if ok, err := c.load(); err != nil {
			return fmt.Errorf("store: readings of %s: %w", device, err)
		} else if ok {
			h.live = append(h.live, c)
		}
	}
	heap.Init(h)
	for h.Len() > 0 {
		c := h.live[0]
		more, err := fn(c.cur)
		if err != nil || !more {
			return err
		}
		c.it.Next()
		ok, err := c.load()
		if err != nil {
			return fmt.Errorf("store: readings of %s: %w", device, err)
		}
		if ok {
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}
	}
	return nil
}

// LastDeviceReading returns the device's latest reading taken at or before
// t (Unix ns) of the points keep accepts (nil: every point), or ErrNotFound.
func (s *Store) LastDeviceReading(device string, t int64, keep func(point string) bool) (DeviceReading, error) {
	points, err := s.DevicePoints(device)
	if err != nil {
		return DeviceReading{}, err
	}
	var best DeviceReading
	found := false
	for _, p := range points {
		if keep != nil && !keep(p) {
			continue
		}
		prefix := indexKey(device, p, 0, 0)[:len(device)+len(p)+2]
		k, _, err := s.seekForPrev(cfIndex, indexKey(device, p, t, math.MaxUint64))
		if IsNotFound(err) || (err == nil && !bytes.HasPrefix(k, prefix)) {
			continue
		}
		if err != nil {
			return DeviceReading{}, err
		}
		r, err := decodeIndexTail(p, k[len(prefix):])
		if err != nil {
			return DeviceReading{}, err
		}
		if !found || r.Time > best.Time || (r.Time == best.Time && r.Seq > best.Seq) {
			best, found = r, true
		}
	}
	if !found {
		return DeviceReading{}, fmt.Errorf("no reading of %s at or before the given time: %w", device, ErrNotFound)
	}
	return best, nil
}

// decodeIndexTail reads the time and seq that end an index key.
func decodeIndexTail(point string, tail []byte) (DeviceReading, error) {
	if len(tail) != 16 {
		return DeviceReading{}, fmt.Errorf("store: corrupt index key of point %s", point)
	}
	return DeviceReading{Point: point, Time: int64(binary.BigEndian.Uint64(tail[:8])), Seq: binary.BigEndian.Uint64(tail[8:])}, nil
}

// pointCursor walks one point's index entries up to end (inclusive).
type pointCursor struct {
	point     string
	prefixLen int
	end       []byte
	it        *grocksdb.Iterator
	cur       DeviceReading
}

// load reads the entry the iterator is at; false past the end.
func (c *pointCursor) load() (bool, error) {
	if !c.it.Valid() {
		return false, c.it.Err()
	}
	k := c.it.Key().Data()
	if bytes.Compare(k, c.end) > 0 || len(k) < c.prefixLen {
		return false, nil
	}
	r, err := decodeIndexTail(c.point, k[c.prefixLen:])
	if err != nil {
		return false, err
	}
	c.cur = r
	return true, nil
}

// pointHeap orders the live cursors by their entry's time, then seq.
type pointHeap struct {
	live []*pointCursor
	all  []*pointCursor // to close
}

func (h *pointHeap) Len() int { return len(h.live) }
func (h *pointHeap) Less(i, j int) bool {
	a, b := h.live[i].cur, h.live[j].cur
	return a.Time < b.Time || (a.Time == b.Time && a.Seq < b.Seq)
}
func (h *pointHeap) Swap(i, j int) { h.live[i], h.live[j] = h.live[j], h.live[i] }
func (h *pointHeap) Push(x any)    { h.live = append(h.live, x.(*pointCursor)) }
func (h *pointHeap) Pop() any {
	c := h.live[len(h.live)-1]
	h.live = h.live[:len(h.live)-1]
	return c
}

func (h *pointHeap) close() {
	for _, c := range h.all {
		c.it.Close()
	}
}

// OldestReading returns the seq of the oldest reading still stored
// (retention and the disk budget delete the oldest blocks' readings), or
// ErrNotFound when none is.
func (s *Store) OldestReading() (uint64, error) {
	var seq uint64
	found := false
	err := s.scan(cfReadings, []byte{}, nil, func(k, _ []byte) (bool, error) {
		v, err := getU64(k)
		seq, found = v, err == nil
		return false, err
	})
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("no reading stored: %w", ErrNotFound)
	}
	return seq, nil
}
