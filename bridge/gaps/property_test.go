package gaps

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/devstatus"
)

// outage is one thing a random timeline makes happen between runs of good
// polls, and whether the records it leaves must explain its stretch.
type outage struct {
	name      string
	explained bool
	// records appends the status records of an outage from the last
	// reading at last, lasting d, and returns the time of the next reading.
	records func(r *rand.Rand, out []Record, last, d int) ([]Record, int)
}

// The poll loop of the timelines: interval 100 ms, timeout 150 ms (the
// loop's 250 ms). A first failure comes within an interval plus the loop's
// timeout: Slack is 350 ms.
const (
	interval  = 100
	loopLimit = 250
)

var outages = []outage{
	{"device down", true, func(r *rand.Rand, out []Record, last, d int) ([]Record, int) {
		out = append(out, st(last+1+r.IntN(interval+loopLimit-1), devstatus.PollFailing))
		back := last + d + r.IntN(interval)
		return append(out, st(back+1, devstatus.Recovered)), back
	}},
	{"paused", true, func(r *rand.Rand, out []Record, last, d int) ([]Record, int) {
		out = append(out, st(last+1+r.IntN(interval), devstatus.Paused), st(last+d, devstatus.Resumed))
		return out, last + d + 1 + r.IntN(interval)
	}},
	{"removed and added again", true, func(r *rand.Rand, out []Record, last, d int) ([]Record, int) {
		out = append(out, st(last+1, devstatus.Removed), st(last+d, devstatus.Added))
		return out, last + d + 1 + r.IntN(interval)
	}},
	{"clean restart", true, func(r *rand.Rand, out []Record, last, d int) ([]Record, int) {
		out = append(out, st(last+1, devstatus.Stopped), st(last+d, devstatus.Started))
		return out, last + d + 1 + r.IntN(interval)
	}},
	{"killed", true, func(r *rand.Rand, out []Record, last, d int) ([]Record, int) {
		out = append(out, st(last+d, devstatus.StartedUnclean))
		return out, last + d + 1 + r.IntN(interval)
	}},
	{"frozen", false, func(r *rand.Rand, out []Record, last, d int) ([]Record, int) {
		back := last + d
		if r.IntN(2) == 0 { // the poll in flight timed out
			out = append(out, st(back, devstatus.PollFailing), st(back+interval+1, devstatus.Recovered))
			return out, back + interval
		}
		return out, back
	}},
	{"frozen while failing was recovered", false, func(r *rand.Rand, out []Record, last, d int) ([]Record, int) {
		out = append(out, st(last+1, devstatus.Recovered))
		return out, last + d
	}},
}

// Random timelines of good polls and outages: every outage is exactly one
// gap, explained exactly when its records must explain it, and there is
// no other gap.
func TestFindRandomTimelines(t *testing.T) {
	opts := Options{Min: 3 * interval * time.Millisecond, Slack: (interval + loopLimit) * time.Millisecond}
	for seed := uint64(1); seed <= 500; seed++ {
		r := rand.New(rand.NewPCG(seed, 0))
		var records []Record
		type truth struct {
			from, to  int
			explained bool
			name      string
		}
		var want []truth
		ms := 0
		records = append(records, st(ms, devstatus.Started))
		for range 1 + r.IntN(8) {
			// Good polls, with jitter under an interval.
			for range 1 + r.IntN(20) {
				ms += interval - 20 + r.IntN(40)
				records = append(records, data(ms))
			}
			o := outages[r.IntN(len(outages))]
			// Long enough for its uncovered part to pass the slack.
			d := 4*int(opts.Slack/time.Millisecond) + r.IntN(10_000)
			var next int
			records, next = o.records(r, records, ms, d)
			want = append(want, truth{ms, next, o.explained, o.name})
			ms = next
			records = append(records, data(ms))
		}
		for range 1 + r.IntN(5) {
			ms += interval
			records = append(records, data(ms))
		}
		for i := range records {
			records[i].Seq = uint64(i + 1)
		}
		got := Find(records, opts, at(ms))
		if len(got) != len(want) {
			t.Fatalf("seed %d: %d gaps, want %d (%v)\n%s", seed, len(got), len(want), want, dump(records))
		}
		for i, w := range want {
			g := got[i]
			if !g.From.Equal(at(w.from)) || !g.To.Equal(at(w.to)) || g.Explained != w.explained {
				t.Fatalf("seed %d: gap %d (%s): %v..%v explained %v (%s); want %d..%d ms explained %v\n%s",
					seed, i, w.name, g.From.Sub(t0), g.To.Sub(t0), g.Explained, g.Reason, w.from, w.to, w.explained, dump(records))
			}
		}
	}
}

func dump(records []Record) string {
	var s string
	for _, r := range records {
		if r.Status != "" {
			s += fmt.Sprintf("  %v %s\n", r.Time.Sub(t0), r.Status)
		}
	}
	return s
}
