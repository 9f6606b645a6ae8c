package store

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// resealFixture is fill's three polls (seqs 1-2, 3-5, 6) in blocks 0
// (anchored), 1 (sealed) and 2 (uploaded).
func resealFixture(t *testing.T, s *Store) {
	t.Helper()
	fill(t, s)
	for _, b := range []*BlockRecord{blockRec(0, 1, 2), blockRec(1, 3, 5), blockRec(2, 6, 6)} {
		if err := s.CommitBlock(b, []byte(fmt.Sprintf("object-%d", b.Height))); err != nil {
			t.Fatal(err)
		}
	}
	for h, st := range map[uint64]BlockState{0: Anchored, 2: Uploaded} {
		b, _ := s.Block(h)
		b.State = st
		if err := s.UpdateBlock(b); err != nil {
			t.Fatal(err)
		}
	}
}

// storeState is everything a re-seal may touch, for comparison.
func storeState(t *testing.T, s *Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	for c := cfDefault; c < cfCount; c++ {
		err := s.scan(c, nil, nil, func(k, v []byte) (bool, error) {
			out[fmt.Sprintf("%s/%x", cfNames[c], k)] = string(v)
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestReseal(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	resealFixture(t, s)
	before := storeState(t, s)
	polls := []ResignedPoll{{3, []byte("poll-3 re-signed")}, {6, []byte("poll-6 re-signed")}}
	if err := s.Reseal(1, polls); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, dir) // durable: what a restart finds
	defer s.Close()

	if last, err := s.LastBlock(); err != nil || last.Height != 0 || last.State != Anchored {
		t.Fatalf("last block after the re-seal: %+v, %v", last, err)
	}
	for _, h := range []uint64{1, 2} {
		if _, err := s.Block(h); !IsNotFound(err) {
			t.Errorf("block %d after the re-seal: %v", h, err)
		}
		if _, err := s.Object(h); !IsNotFound(err) {
			t.Errorf("object %d after the re-seal: %v", h, err)
		}
	}
	if out, err := s.Outbox(); err != nil || len(out) != 0 {
		t.Fatalf("outbox after the re-seal: %v, %v", out, err)
	}
	if _, err := s.BlockForSeq(3); !IsNotFound(err) {
		t.Fatalf("reading 3 still sealed: %v", err)
	}
	if b, err := s.BlockForSeq(2); err != nil || b.Height != 0 {
		t.Fatalf("reading 2: %+v, %v", b, err)
	}
	var records []string
	_ = s.Polls(1, func(_ uint64, rec []byte) (bool, error) { records = append(records, string(rec)); return true, nil })
	if want := []string{"poll-1", "poll-3 re-signed", "poll-6 re-signed"}; !slices.Equal(records, want) {
		t.Fatalf("poll records %q, want %q", records, want)
	}
	// The readings, their index and the next seq are untouched.
	if n, err := s.NextSeq(); err != nil || n != 7 {
		t.Fatalf("NextSeq = %d, %v; want 7", n, err)
	}
	for seq := uint64(1); seq <= 6; seq++ {
		if b, err := s.Reading(seq); err != nil || !bytes.Equal(b, enc(seq)) {
			t.Fatalf("Reading(%d) = %q, %v", seq, b, err)
		}
	}
	if seq, err := s.FindSeq("oven", "temp2", 150); err != nil || seq != 4 {
		t.Fatalf("FindSeq = %d, %v", seq, err)
	}

	// Exactly those keys changed: nothing else in any family.
	after := storeState(t, s)
	var changed []string
	for k := range maps.Keys(mergeKeys(before, after)) {
		b, inBefore := before[k]
		a, inAfter := after[k]
		if b != a || inBefore != inAfter {
			changed = append(changed, strings.SplitN(k, "/", 2)[0])
		}
	}
	slices.Sort(changed)
	if want := []string{"blocks", "blocks", "blockseq", "blockseq", "objects", "objects", "outbox", "outbox", "polls", "polls"}; !slices.Equal(changed, want) {
		t.Fatalf("families changed %v, want %v", changed, want)
	}
}

func mergeKeys(a, b map[string]string) map[string]string {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

// A refused re-seal changes nothing.
func TestResealRefused(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	resealFixture(t, s)
	good := []ResignedPoll{{3, []byte("a")}, {6, []byte("b")}}
	for _, c := range []struct {
		name  string
		from  uint64
		polls []ResignedPoll
		msg   string
	}{
		{"anchored block", 0, []ResignedPoll{{1, []byte("x")}, {3, []byte("a")}, {6, []byte("b")}}, "block 0 is anchored"},
		{"no such block", 3, nil, "no block at height 3"},
		{"a poll missing", 1, good[:1], "seq 6"},
		{"a poll too many", 1, append(slices.Clone(good), ResignedPoll{7, []byte("c")}), "more re-sealed polls"},
		{"another poll", 1, []ResignedPoll{{4, []byte("a")}, {6, []byte("b")}}, "seq 3"},
		{"an empty record", 1, []ResignedPoll{{3, nil}, {6, []byte("b")}}, "no record"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := storeState(t, s)
			err := s.Reseal(c.from, c.polls)
			if err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("got %v, want an error saying %q", err, c.msg)
			}
			if !maps.Equal(before, storeState(t, s)) {
				t.Fatal("a refused re-seal changed the store")
			}
		})
	}

	// A block the disk budget dropped has no readings left to re-seal.
	if err := s.DropBlock(1, nil, []uint64{3}); err != nil {
		t.Fatal(err)
	}
	before := storeState(t, s)
	if err := s.Reseal(1, []ResignedPoll{{6, []byte("b")}}); err == nil || !strings.Contains(err.Error(), "dropped") {
		t.Fatalf("re-seal of a dropped block: %v", err)
	}
	if !maps.Equal(before, storeState(t, s)) {
		t.Fatal("a refused re-seal changed the store")
	}
}
