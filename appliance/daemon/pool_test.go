package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/internal/testserver"
	"github.com/wotchain/wotchain/protocols"
)

// fakeSource counts its polls and closes.
type fakeSource struct {
	mu            sync.Mutex
	polls, closes int
}

func (s *fakeSource) Poll(context.Context) ([]protocols.Sample, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.polls++
	return []protocols.Sample{{Point: "p", Value: 1.0, Quality: protocols.Good}}, nil
}

func (s *fakeSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closes++
	return nil
}

func (s *fakeSource) counts() (polls, closes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.polls, s.closes
}

// fakeSources builds a fakeSource per device, or fails for the ids in fail.
type fakeSources struct {
	fail  map[string]bool
	built map[string][]*fakeSource // every source built per device, oldest first
}

func newFakeSources() *fakeSources {
	return &fakeSources{fail: map[string]bool{}, built: map[string][]*fakeSource{}}
}

func (f *fakeSources) build(d config.Device) (protocols.Source, error) {
	if f.fail[d.ID] {
		return nil, errors.New("no such port")
	}
	s := &fakeSource{}
	f.built[d.ID] = append(f.built[d.ID], s)
	return s, nil
}

// fakeSink numbers the samples it is given.
type fakeSink struct {
	mu   sync.Mutex
	next uint64
}

func (s *fakeSink) Ingest(_ string, samples []protocols.Sample, _ time.Time) (uint64, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	first := s.next + 1
	s.next += uint64(len(samples))
	return first, s.next, nil
}

// dev is a device that polls once at start and then hourly: the tests see
// only the first poll of a loop and the last one taken when it stops.
func dev(id string, priority int) config.Device {
	return config.Device{ID: id, Interval: config.Duration(time.Hour), Timeout: config.Duration(time.Second), Priority: priority}
}

func newTestPool(t *testing.T, src *fakeSources) *pool {
	t.Helper()
	p := newPool(&fakeSink{}, src, slog.New(slog.DiscardHandler))
	t.Cleanup(p.stopAll)
	return p
}

func runningIDs(p *pool) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for id := range p.running {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// TestPoolApply applies a sequence of device lists: each step's started,
// stopped and restarted ids, its error, and the sources it leaves open.
func TestPoolApply(t *testing.T) {
	src := newFakeSources()
	p := newTestPool(t, src)
	var forgotten []string
	p.forget = func(id string) { forgotten = append(forgotten, id) }
	steps := []struct {
		name                        string
		defs                        []config.Device
		fail                        []string
		started, stopped, restarted []string
		forgotten                   []string // by this step
		wantErr                     bool
		running                     []string
	}{
		{name: "first list starts every device", defs: []config.Device{dev("a", 0), dev("b", 0), dev("c", 1)},
			started: []string{"a", "b", "c"}, running: []string{"a", "b", "c"}},
		{name: "the same list changes nothing", defs: []config.Device{dev("c", 1), dev("a", 0), dev("b", 0)},
			running: []string{"a", "b", "c"}},
		{name: "a changed definition restarts only that device", defs: []config.Device{dev("a", 0), dev("b", 5), dev("c", 1)},
			restarted: []string{"b"}, running: []string{"a", "b", "c"}},
		{name: "removed devices stop and are forgotten, added ones start", defs: []config.Device{dev("b", 5), dev("d", 0)},
			started: []string{"d"}, stopped: []string{"a", "c"}, forgotten: []string{"a", "c"}, running: []string{"b", "d"}},
		{name: "a device that cannot be built is left out, the others applied", defs: []config.Device{dev("b", 5), dev("e", 0)},
			fail: []string{"e"}, stopped: []string{"d"}, forgotten: []string{"d"}, wantErr: true, running: []string{"b"}},
		{name: "a failed restart leaves the device out", defs: []config.Device{dev("b", 6), dev("e", 0)},
			fail: []string{"b", "e"}, restarted: []string{"b"}, wantErr: true, running: nil},
		{name: "once buildable, the devices start", defs: []config.Device{dev("b", 6), dev("e", 0)},
			started: []string{"b", "e"}, running: []string{"b", "e"}},
		{name: "an empty list stops every device", defs: nil,
			stopped: []string{"b", "e"}, forgotten: []string{"b", "e"}, running: nil},
	}
	for _, s := range steps {
		src.fail = map[string]bool{}
		for _, id := range s.fail {
			src.fail[id] = true
		}
		forgotten = nil
		started, stopped, restarted, err := p.apply(context.Background(), s.defs)
		if !slices.Equal(started, s.started) || !slices.Equal(stopped, s.stopped) || !slices.Equal(restarted, s.restarted) {
			t.Fatalf("%s: started %v stopped %v restarted %v, want %v %v %v", s.name, started, stopped, restarted, s.started, s.stopped, s.restarted)
		}
		if (err != nil) != s.wantErr {
			t.Fatalf("%s: error %v, want one: %v", s.name, err, s.wantErr)
		}
		slices.Sort(forgotten) // removed devices are forgotten in map order
		if !slices.Equal(forgotten, s.forgotten) {
			t.Fatalf("%s: forgot %v, want %v", s.name, forgotten, s.forgotten)
		}
		if got := runningIDs(p); !slices.Equal(got, s.running) {
			t.Fatalf("%s: running %v, want %v", s.name, got, s.running)
		}
		// Every source but a running device's latest is closed, once,
		// after a last poll (its loop's first poll and the final one).
		for id, built := range src.built {
			for i, b := range built {
				open := i == len(built)-1 && slices.Contains(s.running, id)
				polls, closes := b.counts()
				switch {
				case open && closes != 0:
					t.Fatalf("%s: running device %s's source closed", s.name, id)
				case !open && (closes != 1 || polls != 2):
					t.Fatalf("%s: device %s's source %d: %d polls and %d closes, want 2 and 1", s.name, id, i, polls, closes)
				}
			}
		}
	}
}

// TestPoolPauseLowest pauses one priority level per call, never the
// highest left, keeps the paused sources open, and resumes them all.
func TestPoolPauseLowest(t *testing.T) {
	cases := []struct {
		name    string
		devices map[string]int // id: priority
		rounds  [][]string     // ids paused by each call
		resumed []string
	}{
		{"no devices", nil, [][]string{nil}, nil},
		{"one device", map[string]int{"a": 0}, [][]string{nil}, nil},
		{"equal priorities never pause", map[string]int{"a": 1, "b": 1}, [][]string{nil, nil}, nil},
		{"one level a call, the highest keeps polling", map[string]int{"a": 0, "b": 1, "c": 2},
			[][]string{{"a"}, {"b"}, nil}, []string{"a", "b"}},
		{"every device of the lowest level", map[string]int{"b": 0, "a": 0, "c": 3, "d": 3},
			[][]string{{"a", "b"}, nil}, []string{"a", "b"}},
		{"negative priorities are lowest", map[string]int{"a": -1, "b": 0, "c": 0},
			[][]string{{"a"}, nil}, []string{"a"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := newFakeSources()
			p := newTestPool(t, src)
			var defs []config.Device
			for id, prio := range c.devices {
				defs = append(defs, dev(id, prio))
			}
			if _, _, _, err := p.apply(context.Background(), defs); err != nil {
				t.Fatal(err)
			}
			var paused []string
			for i, want := range c.rounds {
				got := p.pauseLowest()
				if !slices.Equal(got, want) {
					t.Fatalf("call %d paused %v, want %v", i+1, got, want)
				}
				paused = append(paused, got...)
			}
			for id := range c.devices {
				r := p.running[id]
				select {
				case <-r.done:
					if !slices.Contains(paused, id) {
						t.Fatalf("%s's loop stopped but it was not paused", id)
					}
				default:
					if slices.Contains(paused, id) {
						t.Fatalf("paused %s's loop still runs", id)
					}
				}
				if _, closes := src.built[id][0].counts(); closes != 0 {
					t.Fatalf("%s's source closed by the budget", id)
				}
			}
			polls := map[string]int{}
			for _, id := range paused {
				polls[id], _ = src.built[id][0].counts()
			}
			if got := p.resumeAll(context.Background()); !slices.Equal(got, c.resumed) {
				t.Fatalf("resumed %v, want %v", got, c.resumed)
			}
			// A resumed loop polls again at once.
			for _, id := range paused {
				testserver.WaitFor(t, 5*time.Second, fmt.Sprintf("a poll of resumed %s", id), func() bool {
					n, _ := src.built[id][0].counts()
					return n > polls[id]
				})
			}
			if got := p.pauseLowest(); !slices.Equal(got, firstOr(c.rounds)) {
				t.Fatalf("after resuming, paused %v, want %v again", got, firstOr(c.rounds))
			}
		})
	}
}

func firstOr(rounds [][]string) []string {
	if len(rounds) == 0 {
		return nil
	}
	return rounds[0]
}
