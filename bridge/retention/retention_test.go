package retention

import (
	"log/slog"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/protocols"
)

// chain makes one block per day for days days (the last `unanchored`
// of them left in the outbox).
func chain(t *testing.T, days, unanchored int, t0 time.Time) *pipelinetest.Chain {
	t.Helper()
	c := pipelinetest.New(t, pipelinetest.WithMaxReadings(100))
	for d := 0; d < days; d++ {
		at := t0.Add(time.Duration(d) * 24 * time.Hour)
		for _, dev := range []string{"press-1", "env-1"} {
			c.IngestPoll(t, dev, at, protocols.Sample{Point: "t", Value: float64(d)}, protocols.Sample{Point: "u", Value: int64(d)})
		}
		c.Seal(t)
		if d < days-unanchored {
			c.Drain(t)
		}
	}
	return c
}

func TestPruneByAgeKeepsUnanchoredAndRecent(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	st := chain(t, 10, 4, t0).Store // blocks 0..5 anchored, 6..9 waiting
	now := t0.Add(9 * 24 * time.Hour)
	p := New(st, Policy{KeepFor: 4*24*time.Hour + time.Hour}, slog.New(slog.DiscardHandler))
	n, err := p.Prune(now)
	if err != nil {
		t.Fatal(err)
	}
	// Days 0..4 are older than 4 days and anchored; day 5 is recent.
	if n != 5 {
		t.Fatalf("pruned %d blocks, want 5", n)
	}
	for h := uint64(0); h < 10; h++ {
		b, err := st.Block(h)
		if err != nil {
			t.Fatalf("block record %d gone: %v", h, err)
		}
		_, rerr := st.Reading(b.FirstSeq)
		_, oerr := st.Object(h)
		pruned := h < 5
		if pruned != store.IsNotFound(rerr) || pruned != store.IsNotFound(oerr) {
			t.Fatalf("block %d: reading err %v, object err %v; pruned should be %v", h, rerr, oerr, pruned)
		}
	}
	// The point index no longer finds pruned readings.
	if seq, err := st.FindSeq("press-1", "t", t0.Add(36*time.Hour).UnixNano()); err == nil {
		t.Fatalf("index still finds pruned reading %d", seq)
	}
	if _, err := st.FindSeq("press-1", "t", now.UnixNano()); err != nil {
		t.Fatalf("recent reading not found: %v", err)
	}
	// Nothing more is old enough; unanchored blocks are never pruned, however old.
	if n, err := p.Prune(now.Add(365 * 24 * time.Hour)); err != nil || n != 1 {
		t.Fatalf("a year later: pruned %d, %v; want only the last anchored block", n, err)
	}
	for h := uint64(6); h < 10; h++ {
		b, _ := st.Block(h)
		if _, err := st.Reading(b.FirstSeq); err != nil {
			t.Fatalf("unanchored block %d pruned: %v", h, err)
		}
	}
}

func TestPruneBySize(t *testing.T) {
	t0 := time.Now().Add(-time.Hour)
	st := chain(t, 8, 0, t0).Store
	size, err := st.Size()
	if err != nil || size == 0 {
		t.Fatalf("size %d, %v", size, err)
	}
	p := New(st, Policy{KeepBytes: size - 1}, slog.New(slog.DiscardHandler))
	n, err := p.Prune(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if n < 1 || n == 8 {
		t.Fatalf("pruned %d blocks to get just under the limit; want some, not all", n)
	}
	b, _ := st.Block(0)
	if _, err := st.Reading(b.FirstSeq); !store.IsNotFound(err) {
		t.Fatalf("the oldest block was not pruned first: %v", err)
	}
}

// Readings a local consumer (MQTT, aggregation) has not finished with stay.
func TestPruneKeepsUnconsumed(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	st := chain(t, 6, 0, t0).Store
	b2, _ := st.Block(2)
	p := New(st, Policy{KeepFor: time.Hour, Consumed: func() uint64 { return b2.LastSeq }}, slog.New(slog.DiscardHandler))
	if n, err := p.Prune(t0.Add(365 * 24 * time.Hour)); err != nil || n != 3 {
		t.Fatalf("pruned %d, %v; want blocks 0..2 only", n, err)
	}
	b3, _ := st.Block(3)
	if _, err := st.Reading(b3.FirstSeq); err != nil {
		t.Fatalf("an unconsumed block was pruned: %v", err)
	}
}

// A block dropped by the disk budget (and then anchored as dropped) has no
// readings left: retention moves past it and prunes the blocks after it,
// instead of failing on it at every run and never pruning again.
func TestPruneMovesPastDroppedBlocks(t *testing.T) {
	t0 := time.Now().Add(-30 * 24 * time.Hour)
	c := chain(t, 4, 3, t0) // block 0 anchored, blocks 1..3 sealed only
	st := c.Store
	discard := slog.New(slog.DiscardHandler)
	dropped, err := New(st, Policy{}, discard).DropOldest(1)
	if err != nil || len(dropped) != 1 || dropped[0] != 1 {
		t.Fatalf("dropped %v, %v; want block 1", dropped, err)
	}
	// Storage comes back: every block is anchored, block 1 as dropped.
	c.Drain(t)
	p := New(st, Policy{KeepFor: time.Hour}, discard)
	n, err := p.Prune(time.Now())
	if err != nil || n != 4 {
		t.Fatalf("pruned %d blocks, %v; want all 4, the dropped one included", n, err)
	}
	for h := uint64(0); h < 4; h++ {
		b, err := st.Block(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Reading(b.LastSeq); !store.IsNotFound(err) {
			t.Fatalf("block %d still has its readings after pruning: %v", h, err)
		}
	}
	if n, err := p.Prune(time.Now()); err != nil || n != 0 {
		t.Fatalf("a second run pruned %d, %v; want nothing left to do", n, err)
	}
}

// A crash between pruning a block and saving the cursor leaves the cursor
// on a block whose data is gone: the next run moves past it.
func TestPruneAfterCrashBeforeCursor(t *testing.T) {
	t0 := time.Now().Add(-30 * 24 * time.Hour)
	st := chain(t, 3, 0, t0).Store
	p := New(st, Policy{KeepFor: time.Hour}, slog.New(slog.DiscardHandler))
	if n, err := p.Prune(time.Now()); err != nil || n != 3 {
		t.Fatalf("pruned %d, %v; want 3", n, err)
	}
	if err := st.SetCursor(cursorName, 1); err != nil { // as if the crash lost the last two cursor updates
		t.Fatal(err)
	}
	if n, err := p.Prune(time.Now()); err != nil || n != 2 {
		t.Fatalf("after the lost cursor: pruned %d, %v; want to move past blocks 1 and 2", n, err)
	}
	if c, err := st.Cursor(cursorName); err != nil || c != 3 {
		t.Fatalf("cursor %d, %v; want 3", c, err)
	}
}

// Free prunes anchored blocks whatever their age, oldest first, and
// never an unanchored one.
func TestFreeIgnoresAgeNotAnchoring(t *testing.T) {
	st := chain(t, 6, 2, time.Now().Add(-time.Hour)).Store // blocks 4 and 5 not anchored
	p := New(st, Policy{KeepFor: 720 * time.Hour}, slog.New(slog.DiscardHandler))
	if n, err := p.Prune(time.Now()); err != nil || n != 0 {
		t.Fatalf("retention pruned %d young blocks, %v", n, err)
	}
	n, err := p.Free(1)
	if err != nil || n != 4 {
		t.Fatalf("freed %d blocks, %v; want the 4 anchored ones", n, err)
	}
	for h := uint64(0); h < 6; h++ {
		b, _ := st.Block(h)
		_, err := st.Reading(b.FirstSeq)
		if gone := store.IsNotFound(err); gone != (h < 4) {
			t.Fatalf("block %d: readings gone %v", h, gone)
		}
	}
}
