package daemon

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/bridge/devstatus"
	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/protocols"
)

// statusRecords returns the status records of device as "state: reason".
func statusRecords(t *testing.T, st *store.Store, device string) []string {
	t.Helper()
	var out []string
	err := st.PointReadings(device, devstatus.Point, 0, 1<<62, func(seq uint64) (bool, error) {
		raw, err := st.Reading(seq)
		if err != nil {
			return false, err
		}
		r, err := reading.Decode(raw)
		if err != nil {
			return false, err
		}
		out = append(out, *r.Str+": "+r.Reason)
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A run that ends without clearing its mark is reported by the next start
// as unclean, naming the last stored readings; a clean stop is not.
func TestRunStatusUncleanStop(t *testing.T) {
	c := pipelinetest.New(t)
	log := slog.New(slog.DiscardHandler)
	devs := []config.Device{{ID: "press-1"}, {ID: "oven-1"}}

	if _, err := beginRun(c.Store, c.Ingester, devs, log); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(time.Minute).UTC() // after the started record
	first, _ := c.IngestPoll(t, "press-1", at, protocols.Sample{Point: "temp", Value: 20.5})
	// Killed here: the mark stays.
	r, err := beginRun(c.Store, c.Ingester, devs, log)
	if err != nil {
		t.Fatal(err)
	}
	got := statusRecords(t, c.Store, "press-1")
	stamp := at.Format(time.RFC3339Nano)
	if len(got) != 2 || got[0] != "started: appliance started" || !strings.HasPrefix(got[1], "started-unclean: previous run (started ") ||
		!strings.Contains(got[1], "last stored reading of the device: seq 3 at "+stamp+"; of the appliance: seq 3 at "+stamp+" (device press-1)") {
		t.Fatalf("press-1's status records: %q (its reading is seq %d)", got, first)
	}
	if got := statusRecords(t, c.Store, "oven-1"); len(got) != 2 || !strings.Contains(got[1], "of the device: none;") {
		t.Fatalf("oven-1's status records: %q", got)
	}

	r.stopping([]string{"press-1", "oven-1"})
	r.end()
	if _, err := beginRun(c.Store, c.Ingester, devs, log); err != nil {
		t.Fatal(err)
	}
	got = statusRecords(t, c.Store, "oven-1")
	if len(got) != 4 || got[2] != "stopped: appliance stopped cleanly" || got[3] != "started: appliance started" {
		t.Fatalf("after a clean stop: %q", got)
	}
}

// The disk budget's pauses and resumptions are recorded for the devices
// they concern.
func TestPoolRecordsPauseAndResume(t *testing.T) {
	c := pipelinetest.New(t)
	p := newPool(&fakeSink{}, newFakeSources(), slog.New(slog.DiscardHandler))
	p.status = devstatus.NewRecorder(c.Ingester, nil)
	if _, _, _, err := p.apply(context.Background(), []config.Device{dev("low", 0), dev("high", 1)}); err != nil {
		t.Fatal(err)
	}
	defer p.stopAll()
	p.pauseLowest()
	p.resumeAll(context.Background())
	got := statusRecords(t, c.Store, "low")
	if len(got) != 2 || !strings.HasPrefix(got[0], "paused: disk budget reached") || !strings.HasPrefix(got[1], "resumed: ") {
		t.Fatalf("low's status records: %q", got)
	}
	if got := statusRecords(t, c.Store, "high"); len(got) != 0 {
		t.Fatalf("high's status records: %q", got)
	}
}
