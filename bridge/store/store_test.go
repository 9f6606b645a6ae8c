package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
)

func openStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func enc(seq uint64) []byte { return []byte(fmt.Sprintf("reading-%d", seq)) }

// commit stores one poll of device with one reading per (point, time).
func commit(t *testing.T, s *Store, first uint64, device string, points []string, times []int64) {
	t.Helper()
	var rs []StoredReading
	for i := range points {
		seq := first + uint64(i)
		rs = append(rs, StoredReading{Seq: seq, Device: device, Point: points[i], Time: times[i], Encoded: enc(seq)})
	}
	if err := s.CommitPoll(first, rs, []byte(fmt.Sprintf("poll-%d", first))); err != nil {
		t.Fatal(err)
	}
}

// fill writes three polls: seqs 1-2, 3-5, 6.
func fill(t *testing.T, s *Store) {
	commit(t, s, 1, "press", []string{"temp", "pres"}, []int64{100, 100})
	commit(t, s, 3, "oven", []string{"temp", "temp2", "temp"}, []int64{150, 150, 150})
	commit(t, s, 6, "press", []string{"temp"}, []int64{300})
}

func checkFilled(t *testing.T, s *Store) {
	t.Helper()
	if n, err := s.NextSeq(); err != nil || n != 7 {
		t.Fatalf("NextSeq = %d, %v; want 7", n, err)
	}
	for seq := uint64(1); seq <= 6; seq++ {
		b, err := s.Reading(seq)
		if err != nil || !bytes.Equal(b, enc(seq)) {
			t.Fatalf("Reading(%d) = %q, %v", seq, b, err)
		}
	}
	all, err := s.Readings(1, 6)
	if err != nil || len(all) != 6 {
		t.Fatalf("Readings(1, 6): %d, %v", len(all), err)
	}
	for i, b := range all {
		if !bytes.Equal(b, enc(uint64(i+1))) {
			t.Fatalf("Readings(1, 6)[%d] = %q", i, b)
		}
	}
	pollOf := map[uint64]uint64{1: 1, 2: 1, 3: 3, 4: 3, 5: 3, 6: 6}
	for seq, first := range pollOf {
		f, rec, err := s.PollAt(seq)
		if err != nil || f != first || string(rec) != fmt.Sprintf("poll-%d", first) {
			t.Fatalf("PollAt(%d) = %d, %q, %v; want poll %d", seq, f, rec, err, first)
		}
	}
}

func TestNewStoreIsEmpty(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	if n, err := s.NextSeq(); err != nil || n != 1 {
		t.Fatalf("NextSeq of an empty store = %d, %v", n, err)
	}
	if _, err := s.Reading(1); !IsNotFound(err) {
		t.Fatalf("Reading(1) of an empty store: %v", err)
	}
	if _, err := s.LastBlock(); !IsNotFound(err) {
		t.Fatalf("LastBlock of an empty store: %v", err)
	}
	if _, err := s.BlockForSeq(1); !IsNotFound(err) {
		t.Fatalf("BlockForSeq of an empty store: %v", err)
	}
	if _, _, err := s.PollAt(1); !IsNotFound(err) {
		t.Fatalf("PollAt of an empty store: %v", err)
	}
	if out, err := s.Outbox(); err != nil || len(out) != 0 {
		t.Fatalf("Outbox of an empty store: %v, %v", out, err)
	}
}

func TestCommitPollAndReadBack(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	fill(t, s)
	checkFilled(t, s)

	sub, err := s.Readings(3, 4)
	if err != nil || len(sub) != 2 || !bytes.Equal(sub[0], enc(3)) || !bytes.Equal(sub[1], enc(4)) {
		t.Fatalf("Readings(3, 4) = %q, %v", sub, err)
	}
	if _, err := s.Readings(5, 7); err == nil {
		t.Fatal("Readings past the last reading succeeded")
	}
	if _, err := s.Readings(7, 9); err == nil {
		t.Fatal("Readings of unwritten seqs succeeded")
	}
	if _, _, err := s.PollAt(0); !IsNotFound(err) {
		t.Fatalf("PollAt(0): %v", err)
	}
	if _, _, err := s.PollAt(100); !IsNotFound(err) {
		t.Fatalf("PollAt past the last reading: %v", err)
	}
	if _, err := s.Readings(5, 3); err == nil {
		t.Fatal("Readings of an inverted range succeeded")
	}

	var firsts []uint64
	if err := s.Polls(2, func(first uint64, rec []byte) (bool, error) {
		firsts = append(firsts, first)
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(firsts, []uint64{3, 6}) {
		t.Fatalf("Polls(2) visited %v, want [3 6]", firsts)
	}
	firsts = nil
	s.Polls(1, func(first uint64, _ []byte) (bool, error) { firsts = append(firsts, first); return false, nil })
	if !slices.Equal(firsts, []uint64{1}) {
		t.Fatalf("Polls stopping after one visited %v", firsts)
	}
}

func TestCommitPollRejects(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	fill(t, s)
	if err := s.CommitPoll(7, nil, []byte("p")); err == nil {
		t.Fatal("empty poll committed")
	}
	gap := []StoredReading{
		{Seq: 7, Device: "d", Point: "p", Time: 1, Encoded: enc(7)},
		{Seq: 9, Device: "d", Point: "p", Time: 1, Encoded: enc(9)},
	}
	if err := s.CommitPoll(7, gap, []byte("p")); err == nil {
		t.Fatal("poll with a seq gap committed")
	}
	wrongStart := []StoredReading{{Seq: 8, Device: "d", Point: "p", Time: 1, Encoded: enc(8)}}
	if err := s.CommitPoll(7, wrongStart, []byte("p")); err == nil {
		t.Fatal("poll whose first reading is not firstSeq committed")
	}
	// Nothing of the refused polls was written.
	checkFilled(t, s)
	if _, err := s.Reading(7); !IsNotFound(err) {
		t.Fatalf("reading of a refused poll stored: %v", err)
	}
}

func TestFindSeq(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	commit(t, s, 1, "press", []string{"temp", "tempx"}, []int64{100, 50})
	commit(t, s, 3, "press", []string{"temp"}, []int64{200})
	commit(t, s, 4, "press", []string{"temp"}, []int64{200}) // same time, later seq
	commit(t, s, 5, "press2", []string{"temp"}, []int64{250})
	commit(t, s, 6, "press", []string{"temp"}, []int64{300})

	cases := []struct {
		device, point string
		at            int64
		want          uint64 // 0: not found
	}{
		{"press", "temp", 99, 0},
		{"press", "temp", 100, 1},
		{"press", "temp", 150, 1},
		{"press", "temp", 199, 1},
		{"press", "temp", 200, 4},
		{"press", "temp", 250, 4}, // press2's reading at 250 is another device
		{"press", "temp", 300, 6},
		{"press", "temp", 1 << 60, 6},
		{"press", "tempx", 49, 0},
		{"press", "tempx", 50, 2},
		{"press", "tempx", 1000, 2},
		{"press", "tem", 1000, 0},
		{"press2", "temp", 249, 0},
		{"press2", "temp", 250, 5},
		{"pres", "temp", 1000, 0},
		{"absent", "temp", 1000, 0},
	}
	for _, c := range cases {
		got, err := s.FindSeq(c.device, c.point, c.at)
		if c.want == 0 {
			if !IsNotFound(err) {
				t.Errorf("FindSeq(%s, %s, %d) = %d, %v; want not found", c.device, c.point, c.at, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("FindSeq(%s, %s, %d) = %d, %v; want %d", c.device, c.point, c.at, got, err, c.want)
		}
	}
	if _, err := s.FindSeq("pr\x00ess", "temp", 100); err == nil {
		t.Error("FindSeq accepted a device with NUL")
	}

	var seqs []uint64
	if err := s.PointReadings("press", "temp", 100, 200, func(seq uint64) (bool, error) {
		seqs = append(seqs, seq)
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seqs, []uint64{1, 3, 4}) {
		t.Fatalf("PointReadings(press, temp, 100, 200) = %v, want [1 3 4]", seqs)
	}
}

func blockRec(height, first, last uint64) *BlockRecord {
	return &BlockRecord{
		Height: height, BlockID: fmt.Sprintf("%x", sha256.Sum256([]byte{byte(height)})), Header: []byte{byte(height)}, HeaderSig: []byte("sig"),
		FirstSeq: first, LastSeq: last, ObjectHash: fmt.Sprintf("%064x", 100+height), State: Sealed, SealedAt: int64(height),
	}
}

func TestBlocks(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	fill(t, s)
	b0, b1 := blockRec(0, 1, 2), blockRec(1, 3, 5)
	if err := s.CommitBlock(b0, []byte("object-0")); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitBlock(b1, []byte("object-1")); err != nil {
		t.Fatal(err)
	}

	last, err := s.LastBlock()
	if err != nil || last.Height != 1 || last.BlockID != b1.BlockID {
		t.Fatalf("LastBlock = %+v, %v", last, err)
	}
	got, err := s.Block(0)
	if err != nil || got.BlockID != b0.BlockID || got.FirstSeq != 1 || got.LastSeq != 2 || got.State != Sealed ||
		!bytes.Equal(got.Header, b0.Header) || got.ObjectHash != b0.ObjectHash {
		t.Fatalf("Block(0) = %+v, %v", got, err)
	}
	if _, err := s.Block(2); !IsNotFound(err) {
		t.Fatalf("Block(2): %v", err)
	}
	for seq, want := range map[uint64]uint64{1: 0, 2: 0, 3: 1, 4: 1, 5: 1} {
		rec, err := s.BlockForSeq(seq)
		if err != nil || rec.Height != want {
			t.Errorf("BlockForSeq(%d) = %v, %v; want block %d", seq, rec, err, want)
		}
	}
	for _, seq := range []uint64{0, 6, 100} {
		if rec, err := s.BlockForSeq(seq); !IsNotFound(err) {
			t.Errorf("BlockForSeq(%d) = %+v, %v; want not found", seq, rec, err)
		}
	}
	if o, err := s.Object(1); err != nil || string(o) != "object-1" {
		t.Fatalf("Object(1) = %q, %v", o, err)
	}
	if out, err := s.Outbox(); err != nil || !slices.Equal(out, []uint64{0, 1}) {
		t.Fatalf("Outbox = %v, %v", out, err)
	}

	// Uploaded stays in the outbox, Anchored leaves it.
	b0.State, b0.Location = Uploaded, "fs:x"
	if err := s.UpdateBlock(b0); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Block(0); got.State != Uploaded || got.Location != "fs:x" {
		t.Fatalf("after UpdateBlock: %+v", got)
	}
	if out, _ := s.Outbox(); !slices.Equal(out, []uint64{0, 1}) {
		t.Fatalf("Outbox after upload = %v", out)
	}
	b0.State = Anchored
	if err := s.UpdateBlock(b0); err != nil {
		t.Fatal(err)
	}
	if out, _ := s.Outbox(); !slices.Equal(out, []uint64{1}) {
		t.Fatalf("Outbox after anchoring block 0 = %v, want [1]", out)
	}
	if got, _ := s.Block(0); got.State != Anchored {
		t.Fatalf("block 0 state %s", got.State)
	}

	var heights []uint64
	if err := s.Blocks(1, func(r *BlockRecord) (bool, error) { heights = append(heights, r.Height); return true, nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(heights, []uint64{1}) {
		t.Fatalf("Blocks(1) visited %v", heights)
	}
	stop := errors.New("stop")
	if err := s.Blocks(0, func(*BlockRecord) (bool, error) { return false, stop }); !errors.Is(err, stop) {
		t.Fatalf("Blocks did not return the callback's error: %v", err)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	s := openStore(t, dir)
	fill(t, s)
	b0 := blockRec(0, 1, 2)
	if err := s.CommitBlock(b0, []byte("object-0")); err != nil {
		t.Fatal(err)
	}
	b0.State = Uploaded
	if err := s.UpdateBlock(b0); err != nil {
		t.Fatal(err)
	}
	if err := s.Ledger().Commit(map[string][]byte{"k": []byte("v")}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openStore(t, dir)
	defer s.Close()
	checkFilled(t, s)
	if seq, err := s.FindSeq("press", "temp", 1000); err != nil || seq != 6 {
		t.Fatalf("FindSeq after reopen = %d, %v", seq, err)
	}
	if rec, err := s.LastBlock(); err != nil || rec.Height != 0 || rec.State != Uploaded {
		t.Fatalf("LastBlock after reopen = %+v, %v", rec, err)
	}
	if rec, err := s.BlockForSeq(2); err != nil || rec.Height != 0 {
		t.Fatalf("BlockForSeq after reopen = %+v, %v", rec, err)
	}
	if o, err := s.Object(0); err != nil || string(o) != "object-0" {
		t.Fatalf("Object after reopen = %q, %v", o, err)
	}
	if out, _ := s.Outbox(); !slices.Equal(out, []uint64{0}) {
		t.Fatalf("Outbox after reopen = %v", out)
	}
	if v, err := s.Ledger().Get("k"); err != nil || string(v) != "v" {
		t.Fatalf("ledger after reopen = %q, %v", v, err)
	}
}

func TestOpenReadOnly(t *testing.T) {
	if _, err := OpenReadOnly(filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Fatal("OpenReadOnly of a missing directory succeeded")
	}
	dir := t.TempDir()
	s := openStore(t, dir)
	defer s.Close()
	fill(t, s)
	if err := s.CommitBlock(blockRec(0, 1, 2), []byte("object-0")); err != nil {
		t.Fatal(err)
	}

	// The writer is still open (and holds the lock): a reader opens beside it.
	ro, err := OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	checkFilled(t, ro)
	if rec, err := ro.BlockForSeq(1); err != nil || rec.Height != 0 {
		t.Fatalf("read-only BlockForSeq = %+v, %v", rec, err)
	}
	if seq, err := ro.FindSeq("oven", "temp", 150); err != nil || seq != 5 {
		t.Fatalf("read-only FindSeq = %d, %v", seq, err)
	}
	// It sees the state as of opening, as documented.
	commit(t, s, 7, "press", []string{"temp"}, []int64{400})
	if _, err := ro.Reading(7); !IsNotFound(err) {
		t.Fatalf("read-only store saw a reading committed after it opened: %v", err)
	}
}

func TestLedgerState(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	l := s.Ledger()
	if v, err := l.Get("absent"); err != nil || v != nil {
		t.Fatalf("Get(absent) = %q, %v", v, err)
	}
	if err := l.Commit(map[string][]byte{"a\x00": []byte("0"), "b\x001": []byte("1"), "b\x002": []byte("2"), "b\x003": []byte("3"), "c": []byte("4")}); err != nil {
		t.Fatal(err)
	}
	scan := func(prefix, start string) []string {
		var keys []string
		if err := l.Scan(prefix, start, func(k string, _ []byte) (bool, error) { keys = append(keys, k); return true, nil }); err != nil {
			t.Fatal(err)
		}
		return keys
	}
	if got := scan("b\x00", ""); !slices.Equal(got, []string{"b\x001", "b\x002", "b\x003"}) {
		t.Fatalf("Scan(b) = %q", got)
	}
	if got := scan("b\x00", "b\x002"); !slices.Equal(got, []string{"b\x002", "b\x003"}) {
		t.Fatalf("Scan(b from b2) = %q", got)
	}
	if got := scan("", ""); len(got) != 5 {
		t.Fatalf("Scan of everything = %q", got)
	}
	if got := scan("\xff", ""); len(got) != 0 {
		t.Fatalf("Scan(0xff) = %q", got)
	}
}

func TestMemoryReportsMemtables(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	before := s.Memory()
	p := Poll{FirstSeq: 1, Record: []byte("poll")}
	for i := range 2000 {
		seq := uint64(i + 1)
		p.Readings = append(p.Readings, StoredReading{Seq: seq, Device: "d", Point: "p", Time: int64(i), Encoded: make([]byte, 1000)})
	}
	if err := s.CommitPolls([]Poll{p}); err != nil {
		t.Fatal(err)
	}
	if after := s.Memory(); after.Memtables < before.Memtables+2_000_000 {
		t.Fatalf("memtables %d -> %d after writing", before.Memtables, after.Memtables)
	}
}

// TestCommitPollsGroup commits consecutive polls in one batch and refuses
// a group with a gap, leaving nothing of it behind.
func TestCommitPollsGroup(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	poll := func(first uint64, n int) Poll {
		p := Poll{FirstSeq: first, Record: []byte(fmt.Sprintf("poll-%d", first))}
		for i := range n {
			seq := first + uint64(i)
			p.Readings = append(p.Readings, StoredReading{Seq: seq, Device: "d", Point: fmt.Sprint("p", i), Time: 5, Encoded: enc(seq)})
		}
		return p
	}
	if err := s.CommitPolls(nil); err == nil {
		t.Fatal("empty group committed")
	}
	if err := s.CommitPolls([]Poll{poll(1, 2), poll(4, 1)}); err == nil {
		t.Fatal("group with a gap committed")
	}
	if err := s.CommitPolls([]Poll{poll(1, 2), {FirstSeq: 3, Record: []byte("p")}}); err == nil {
		t.Fatal("group with an empty poll committed")
	}
	if next, _ := s.NextSeq(); next != 1 {
		t.Fatalf("refused groups left next seq %d", next)
	}
	if err := s.CommitPolls([]Poll{poll(1, 2), poll(3, 3), poll(6, 1)}); err != nil {
		t.Fatal(err)
	}
	checkFilledLike(t, s)
}

// checkFilledLike checks seqs 1..6 in polls starting at 1, 3 and 6.
func checkFilledLike(t *testing.T, s *Store) {
	t.Helper()
	if next, err := s.NextSeq(); err != nil || next != 7 {
		t.Fatalf("next seq %d, %v", next, err)
	}
	raws, err := s.Readings(1, 6)
	if err != nil || len(raws) != 6 {
		t.Fatalf("readings: %d, %v", len(raws), err)
	}
	for i, r := range raws {
		if string(r) != string(enc(uint64(i+1))) {
			t.Fatalf("reading %d is %q", i+1, r)
		}
	}
	var firsts []uint64
	if err := s.Polls(1, func(first uint64, _ []byte) (bool, error) { firsts = append(firsts, first); return true, nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(firsts) != "[1 3 6]" {
		t.Fatalf("polls start at %v", firsts)
	}
	if _, err := s.Readings(1, 7); err == nil {
		t.Fatal("reading 7 found")
	}
}

// TestReadingsAcrossArenas reads values larger than one arena piece.
func TestReadingsAcrossArenas(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	p := Poll{FirstSeq: 1, Record: []byte("poll")}
	for i := range 5 {
		v := bytes.Repeat([]byte{byte('a' + i)}, (maxArena/2)*(i%3)+i+1)
		p.Readings = append(p.Readings, StoredReading{Seq: uint64(i + 1), Device: "d", Point: "p", Encoded: v})
	}
	if err := s.CommitPolls([]Poll{p}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Readings(1, 5)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range p.Readings {
		if !bytes.Equal(got[i], r.Encoded) {
			t.Fatalf("reading %d: %d bytes, want %d", i+1, len(got[i]), len(r.Encoded))
		}
		if cap(got[i]) != len(got[i]) {
			t.Fatalf("reading %d can grow into its neighbour", i+1)
		}
	}
}
