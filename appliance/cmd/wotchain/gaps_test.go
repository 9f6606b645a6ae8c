package main

import (
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/bridge/devstatus"
	"github.com/wotchain/wotchain/bridge/gaps"
	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/protocols"
)

// findGaps over a store: the stretch a window starts or ends inside is
// taken whole, with the status records that began it.
func TestFindGapsWindow(t *testing.T) {
	c := pipelinetest.New(t)
	t0 := time.Date(2026, 12, 8, 14, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	values := func(from, to int) {
		for n := from; n <= to; n += 100 {
			c.IngestPoll(t, "d", ms(n), protocols.Sample{Point: "temp", Value: 20.5})
			c.IngestPoll(t, "other", ms(n), protocols.Sample{Point: "temp", Value: 1.0})
		}
	}
	status := func(n int, s devstatus.State) uint64 {
		seq, _ := c.IngestPoll(t, "d", ms(n), devstatus.Sample(s, "why"))
		return seq
	}
	values(0, 1000)
	failing := status(1100, devstatus.PollFailing)
	values(5000, 6000)
	status(5001, devstatus.Recovered)
	values(10000, 10500) // 6 s to 10 s: nothing recorded

	opts := gaps.Options{Min: 300 * time.Millisecond, Slack: 350 * time.Millisecond}
	type want struct {
		from, to  int
		explained bool
	}
	for _, tc := range []struct {
		name     string
		from, to int // ms; from -1: none
		bounded  bool
		want     []want
	}{
		{"everything", -1, 10500, false, []want{{1000, 5000, true}, {6000, 10000, false}}},
		{"from inside the first gap", 3000, 10500, false, []want{{1000, 5000, true}, {6000, 10000, false}}},
		{"to inside the second gap", -1, 7000, true, []want{{1000, 5000, true}, {6000, 10000, false}}},
		{"only the second gap", 7000, 8000, true, []want{{6000, 10000, false}}},
		{"between the gaps", 5200, 5800, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var from int64
			if tc.from >= 0 {
				from = ms(tc.from).UnixNano()
			}
			got, err := findGaps(c.Store, "d", from, ms(tc.to).UnixNano(), tc.bounded, opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d gaps, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				g := got[i]
				if !g.From.Equal(ms(w.from)) || !g.To.Equal(ms(w.to)) || g.Explained != w.explained {
					t.Errorf("gap %d: %v..%v explained %v (%s); want %d..%d ms explained %v", i, g.From.Sub(t0), g.To.Sub(t0), g.Explained, g.Reason, w.from, w.to, w.explained)
				}
				if w.explained && (len(g.Records) != 1 || g.Records[0].Seq != failing || g.Records[0].Status != devstatus.PollFailing) {
					t.Errorf("gap %d: records %+v, want poll-failing seq %d", i, g.Records, failing)
				}
			}
		})
	}
}

// A --min no longer than the device's poll interval would list every pause
// between two polls: refused, naming the interval; longer ones are taken.
func TestGapOptionsMin(t *testing.T) {
	cfg := &config.Config{Devices: []config.Device{{ID: "press-1", Interval: config.Duration(time.Second), Timeout: config.Duration(2 * time.Second)}}}
	if _, err := gapOptions(cfg, "press-1", time.Second); err == nil || !strings.Contains(err.Error(), "poll interval (1s)") {
		t.Fatalf("--min 1s at a 1s interval: %v", err)
	}
	opts, err := gapOptions(cfg, "press-1", 1500*time.Millisecond)
	if err != nil || opts.Min != 1500*time.Millisecond || opts.Slack != 5*time.Second {
		t.Fatalf("--min 1.5s: %+v, %v", opts, err)
	}
	if opts, err := gapOptions(cfg, "press-1", 0); err != nil || opts.Min != 3*time.Second {
		t.Fatalf("default: %+v, %v", opts, err)
	}
}
