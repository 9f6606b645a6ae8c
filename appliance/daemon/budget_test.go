package daemon

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/appliance/config"
)

// fakeSize answers Size with its sizes in turn; a zero size is an error.
type fakeSize struct{ sizes []uint64 }

func (f *fakeSize) Size() (uint64, error) {
	if len(f.sizes) == 0 {
		panic("store measured more often than the test expects")
	}
	s := f.sizes[0]
	f.sizes = f.sizes[1:]
	if s == 0 {
		return 0, errors.New("lstat: permission denied")
	}
	return s, nil
}

// fakeFreer records what the budget asks to free.
type fakeFreer struct {
	freed   int // blocks Free reports
	freeErr error
	dropped []uint64
	targets []uint64 // Free's targets
	excess  []uint64 // DropOldest's excess
}

func (f *fakeFreer) Free(target uint64) (int, error) {
	f.targets = append(f.targets, target)
	return f.freed, f.freeErr
}

func (f *fakeFreer) DropOldest(excess uint64) ([]uint64, error) {
	f.excess = append(f.excess, excess)
	return f.dropped, nil
}

// fakePauser records pauses and resumes.
type fakePauser struct {
	pause           []string // what pauseLowest returns
	pauses, resumes int
}

func (f *fakePauser) pauseLowest() []string { f.pauses++; return f.pause }

func (f *fakePauser) resumeAll(context.Context) []string { f.resumes++; return []string{"a"} }

// TestBudgetCheck runs one check of a 1000-byte cap per case.
func TestBudgetCheck(t *testing.T) {
	const drop, pause = config.DropOldestUnanchored, config.PauseDevices
	cases := []struct {
		name       string
		policy     config.OnFull
		sizes      []uint64 // Size's answers in turn; 0 is an error
		freed      int
		freeErr    error
		pauseIDs   []string
		paused     bool // before the check
		wantPaused bool
		frees      []uint64 // Free's targets
		pauses     int
		resumes    int
		seals      int
		excess     []uint64 // DropOldest's excess
		log        string   // in the log
	}{
		{name: "below the cap nothing happens", policy: pause, sizes: []uint64{500}},
		{name: "at the cap is not above it", policy: pause, sizes: []uint64{1000}},
		{name: "above it, anchored copies pruned first suffice", policy: pause, sizes: []uint64{1200, 850}, freed: 3,
			frees: []uint64{900}, log: "pruned ahead of retention"},
		{name: "above it after pruning, the lowest devices pause", policy: pause, sizes: []uint64{1200}, pauseIDs: []string{"a"},
			wantPaused: true, frees: []uint64{900}, pauses: 1, log: "ALARM disk budget reached: lowest-priority devices paused"},
		{name: "still above, the next level pauses", policy: pause, sizes: []uint64{1200, 1100}, freed: 1, pauseIDs: []string{"b"},
			paused: true, wantPaused: true, frees: []uint64{900}, pauses: 1, log: "lowest-priority devices paused"},
		{name: "nothing left to pause is an alarm all the same", policy: pause, sizes: []uint64{1200},
			frees: []uint64{900}, pauses: 1, log: "ALARM disk budget reached: only the highest-priority devices poll"},
		{name: "nothing left to pause keeps earlier pauses", policy: pause, sizes: []uint64{1200},
			paused: true, wantPaused: true, frees: []uint64{900}, pauses: 1, log: "only the highest-priority"},
		{name: "paused between 90 % and the cap stays paused", policy: pause, sizes: []uint64{950},
			paused: true, wantPaused: true},
		{name: "paused at 90 % stays paused", policy: pause, sizes: []uint64{900},
			paused: true, wantPaused: true},
		{name: "paused below 90 % resumes", policy: pause, sizes: []uint64{899},
			paused: true, resumes: 1, log: "devices resume"},
		{name: "not paused, nothing resumes", policy: pause, sizes: []uint64{10}},
		{name: "pruning that fails lets the policy act", policy: pause, sizes: []uint64{1200}, freeErr: errors.New("disk"), pauseIDs: []string{"a"},
			wantPaused: true, frees: []uint64{900}, pauses: 1, log: "pruning anchored blocks failed"},
		{name: "a store that cannot be measured changes nothing", policy: pause, sizes: []uint64{0},
			paused: true, wantPaused: true, log: "cannot measure the store"},
		{name: "nor when it cannot be measured after pruning", policy: pause, sizes: []uint64{1200, 0}, freed: 2,
			frees: []uint64{900}, log: "cannot measure the store"},
		{name: "drop_oldest_unanchored seals, then drops down to 90 %", policy: drop, sizes: []uint64{1500},
			frees: []uint64{900}, seals: 1, excess: []uint64{600}, log: "ALARM disk budget reached: oldest unanchored readings dropped"},
		{name: "drop_oldest_unanchored counts from the size after pruning", policy: drop, sizes: []uint64{1500, 1100}, freed: 4,
			frees: []uint64{900}, seals: 1, excess: []uint64{200}, log: "oldest unanchored readings dropped"},
		{name: "drop_oldest_unanchored never pauses", policy: drop, sizes: []uint64{1200}, pauseIDs: []string{"a"},
			frees: []uint64{900}, seals: 1, excess: []uint64{300}, log: "oldest unanchored readings dropped"},
		{name: "drop_oldest_unanchored below the cap does nothing", policy: drop, sizes: []uint64{999}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var log bytes.Buffer
			size, freer, pauser := &fakeSize{sizes: c.sizes}, &fakeFreer{freed: c.freed, freeErr: c.freeErr}, &fakePauser{pause: c.pauseIDs}
			seals := 0
			b := &budget{st: size, pruner: freer, max: 1000, policy: c.policy, devices: pauser,
				seal: func() { seals++ }, log: slog.New(slog.NewTextHandler(&log, nil))}
			got := b.check(context.Background(), c.paused)
			switch {
			case got != c.wantPaused:
				t.Errorf("paused %v, want %v", got, c.wantPaused)
			case len(size.sizes) != 0:
				t.Errorf("the store was measured %d times fewer than expected", len(size.sizes))
			case !slices.Equal(freer.targets, c.frees):
				t.Errorf("freed to %v, want %v", freer.targets, c.frees)
			case pauser.pauses != c.pauses || pauser.resumes != c.resumes:
				t.Errorf("%d pauses and %d resumes, want %d and %d", pauser.pauses, pauser.resumes, c.pauses, c.resumes)
			case seals != c.seals || !slices.Equal(freer.excess, c.excess):
				t.Errorf("%d seals, dropped %v bytes, want %d seals, %v bytes", seals, freer.excess, c.seals, c.excess)
			case !strings.Contains(log.String(), c.log):
				t.Errorf("log %q lacks %q", log.String(), c.log)
			case c.log == "" && log.Len() > 0:
				t.Errorf("logged %q", log.String())
			}
		})
	}
}

// TestBudgetWithoutCapReturns: with no cap, run returns at once instead of
// measuring the store.
func TestBudgetWithoutCapReturns(t *testing.T) {
	b := &budget{st: &fakeSize{}, pruner: &fakeFreer{}, devices: &fakePauser{}, log: slog.New(slog.DiscardHandler)}
	done := make(chan struct{})
	go func() { b.run(context.Background()); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * budgetCheck):
		t.Fatal("run without a cap did not return")
	}
}
