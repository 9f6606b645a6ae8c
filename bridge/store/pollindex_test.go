package store

import (
	"fmt"
	"path/filepath"
	"testing"
)

// indexed is a v2 poll of n readings of device from seq first, numbered index.
func indexed(first uint64, n int, device string, index uint64) Poll {
	p := Poll{FirstSeq: first, Record: []byte(fmt.Sprintf("poll-%d", first)), Indexed: true, Device: device, Index: index}
	for i := range n {
		seq := first + uint64(i)
		p.Readings = append(p.Readings, StoredReading{Seq: seq, Device: device, Point: "p", Time: 100, Encoded: enc(seq)})
	}
	return p
}

func wantIndices(t *testing.T, s *Store, want map[string]uint64) {
	t.Helper()
	for device, n := range want {
		if got, err := s.NextPollIndex(device); err != nil || got != n {
			t.Fatalf("NextPollIndex(%s) = %d, %v; want %d", device, got, err, n)
		}
	}
}

// Poll indices are per device, follow each other from 0, advance in the
// batch of their poll, and survive a reopen; v1 polls leave them alone.
func TestPollIndicesDurable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	s := openStore(t, dir)
	wantIndices(t, s, map[string]uint64{"press": 0, "oven": 0})
	if err := s.CommitPolls([]Poll{indexed(1, 2, "press", 0), indexed(3, 1, "oven", 0), indexed(4, 3, "press", 1)}); err != nil {
		t.Fatal(err)
	}
	wantIndices(t, s, map[string]uint64{"press": 2, "oven": 1, "boiler": 0})
	commit(t, s, 7, "press", []string{"v1"}, []int64{200}) // a v1 poll
	wantIndices(t, s, map[string]uint64{"press": 2, "oven": 1})
	s.Close()

	s = openStore(t, dir)
	defer s.Close()
	wantIndices(t, s, map[string]uint64{"press": 2, "oven": 1})
	if err := s.CommitPolls([]Poll{indexed(8, 1, "press", 2)}); err != nil {
		t.Fatalf("next index after reopen: %v", err)
	}
	wantIndices(t, s, map[string]uint64{"press": 3, "oven": 1})
}

// An index other than the device's next (reused, skipped, repeated in the
// batch) or a reading of another device refuses the whole batch: nothing
// of it is stored, counters included.
func TestPollIndicesRefused(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	if err := s.CommitPolls([]Poll{indexed(1, 1, "press", 0), indexed(2, 1, "press", 1)}); err != nil {
		t.Fatal(err)
	}
	other := indexed(3, 2, "press", 2)
	other.Readings[1].Device = "oven"
	cases := map[string][]Poll{
		"index reused":              {indexed(3, 1, "press", 1)},
		"index skipped":             {indexed(3, 1, "press", 3)},
		"first index of a device":   {indexed(3, 1, "oven", 1)},
		"repeated in the batch":     {indexed(3, 1, "press", 2), indexed(4, 1, "press", 2)},
		"valid then reused":         {indexed(3, 1, "oven", 0), indexed(4, 1, "press", 0)},
		"reading of another device": {other},
	}
	for name, polls := range cases {
		t.Run(name, func(t *testing.T) {
			if err := s.CommitPolls(polls); err == nil {
				t.Fatal("CommitPolls accepted")
			}
			wantIndices(t, s, map[string]uint64{"press": 2, "oven": 0})
			if n, err := s.NextSeq(); err != nil || n != 3 {
				t.Fatalf("NextSeq = %d, %v after a refused batch", n, err)
			}
		})
	}
}
