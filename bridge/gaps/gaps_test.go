package gaps

import (
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/devstatus"
)

var t0 = time.Date(2026, 12, 8, 14, 0, 0, 0, time.UTC)

// at is t0 plus ms milliseconds.
func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// data is a reading of a value at ms; st a status record.
func data(ms int) Record { return Record{Time: at(ms)} }
func st(ms int, s devstatus.State) Record {
	return Record{Time: at(ms), Status: s, Reason: "why"}
}

// every returns readings of a value every step ms in [from, to].
func every(from, to, step int) []Record {
	var out []Record
	for ms := from; ms <= to; ms += step {
		out = append(out, data(ms))
	}
	return out
}

func join(parts ...[]Record) []Record {
	var out []Record
	for _, p := range parts {
		out = append(out, p...)
	}
	for i := range out {
		out[i].Seq = uint64(i + 1)
	}
	return out
}

func one(r Record) []Record { return []Record{r} }

// The device polls every 100 ms; Min 300 ms, Slack 350 ms (an interval
// plus the loop's timeout of 250 ms).
func TestFind(t *testing.T) {
	opts := Options{Min: 300 * time.Millisecond, Slack: 350 * time.Millisecond}
	type want struct {
		from, to  int
		explained bool
		reason    string // a substring
		ongoing   bool
	}
	cases := []struct {
		name    string
		records []Record
		end     int
		want    []want
	}{
		{"steady", join(one(st(0, devstatus.Started)), every(10, 2000, 100)), 2050, nil},
		{"short hiccup is no gap", join(every(0, 1000, 100), every(1300, 2000, 100)), 2000, nil},
		{"device down", join(every(0, 1000, 100), one(st(1300, devstatus.PollFailing)), every(4000, 5000, 100), one(st(4001, devstatus.Recovered))), 5000,
			[]want{{1000, 4000, true, "poll-failing: why (seq 12)", false}}},
		{"device down, the first failure at the slack's end", join(every(0, 1000, 100), one(st(1350, devstatus.PollFailing)), every(4000, 4100, 100)), 4100,
			[]want{{1000, 4000, true, "poll-failing", false}}},
		{"frozen: nothing recorded", join(every(0, 1000, 100), every(6000, 7000, 100)), 7000,
			[]want{{1000, 6000, false, "UNEXPLAINED: nothing recorded from 2026-12-08T14:00:01.000Z to 2026-12-08T14:00:06.000Z (5s)", false}}},
		{"frozen: the timed-out poll records poll-failing at the end", join(every(0, 1000, 100), one(st(6000, devstatus.PollFailing)), every(6100, 7000, 100), one(st(6101, devstatus.Recovered))), 7000,
			[]want{{1000, 6100, false, "the first status record (poll-failing, seq 12) came only then", false}}},
		{"paused and resumed", join(every(0, 1000, 100), one(st(1001, devstatus.Paused)), one(st(9000, devstatus.Resumed)), every(9050, 9500, 100)), 9500,
			[]want{{1000, 9050, true, "paused: why", false}}},
		{"resumed but silent after", join(every(0, 1000, 100), one(st(1001, devstatus.Paused)), one(st(3000, devstatus.Resumed)), every(9000, 9500, 100)), 9500,
			[]want{{1000, 9000, false, "UNEXPLAINED: nothing recorded from 2026-12-08T14:00:03.000Z to 2026-12-08T14:00:09.000Z", false}}},
		{"clean restart", join(every(0, 1000, 100), one(st(1001, devstatus.Stopped)), one(st(5000, devstatus.Started)), every(5010, 5500, 100)), 5500,
			[]want{{1000, 5010, true, "stopped: why", false}}},
		{"killed and restarted", join(every(0, 1000, 100), one(st(5000, devstatus.StartedUnclean)), every(5010, 5500, 100)), 5500,
			[]want{{1000, 5010, true, "started-unclean: why", false}}},
		{"removed, still", join(every(0, 1000, 100), one(st(1001, devstatus.Removed))), 8000,
			[]want{{1000, 8000, true, "removed: why", true}}},
		{"stopped, ongoing", join(every(0, 1000, 100), one(st(1001, devstatus.Stopped))), 8000,
			[]want{{1000, 8000, true, "stopped", true}}},
		{"silent at the end", join(every(0, 1000, 100)), 8000,
			[]want{{1000, 8000, false, "UNEXPLAINED", true}}},
		{"failing, then paused: one reason each", join(every(0, 1000, 100), one(st(1200, devstatus.PollFailing)), one(st(3000, devstatus.Paused)), one(st(6000, devstatus.Resumed)), every(6100, 6200, 100)), 6200,
			[]want{{1000, 6100, true, "poll-failing: why (seq 12)", false}}},
		{"changed is no explanation", join(every(0, 1000, 100), one(st(1100, devstatus.Changed)), every(5000, 5100, 100)), 5100,
			[]want{{1000, 5000, false, "UNEXPLAINED", false}}},
		{"no records at all", nil, 5000, nil},
		{"an unknown state changes nothing", join(every(0, 1000, 100), one(st(1200, devstatus.PollFailing)), one(st(3000, "rebooting")), every(6000, 6100, 100)), 6100,
			[]want{{1000, 6000, true, "poll-failing", false}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Find(c.records, opts, at(c.end))
			if len(got) != len(c.want) {
				t.Fatalf("%d gaps, want %d: %+v", len(got), len(c.want), got)
			}
			for i, w := range c.want {
				g := got[i]
				if !g.From.Equal(at(w.from)) || !g.To.Equal(at(w.to)) || g.Explained != w.explained || g.Ongoing != w.ongoing || !strings.Contains(g.Reason, w.reason) {
					t.Errorf("gap %d: %s..%s explained %v ongoing %v %q; want %d..%d ms explained %v ongoing %v, reason with %q",
						i, g.From.Sub(t0), g.To.Sub(t0), g.Explained, g.Ongoing, g.Reason, w.from, w.to, w.explained, w.ongoing, w.reason)
				}
			}
		})
	}
}

// A window's start: a stretch before the first record starts at From; the
// records a caller seeds from before From are taken as they are.
func TestFindFrom(t *testing.T) {
	opts := Options{Min: 300 * time.Millisecond, From: at(0)}
	got := Find(join(every(2000, 2500, 100)), opts, at(2500))
	if len(got) != 1 || !got[0].From.Equal(at(0)) || !got[0].To.Equal(at(2000)) || got[0].Explained {
		t.Fatalf("a stretch from the window's start: %+v", got)
	}
	got = Find(join(one(data(-500)), one(st(-400, devstatus.Paused)), every(2000, 2500, 100)), opts, at(2500))
	if len(got) != 1 || !got[0].From.Equal(at(-500)) || !got[0].Explained {
		t.Fatalf("a stretch begun before the window: %+v", got)
	}
	if got := Find(nil, opts, at(5000)); len(got) != 1 || !got[0].Ongoing || got[0].Explained {
		t.Fatalf("nothing in the window: %+v", got)
	}
}
