package e2e

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wotchain/wotchain/appliance/daemon"
	"github.com/wotchain/wotchain/bridge/devstatus"
	"github.com/wotchain/wotchain/bridge/gaps"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/protocols/modbus/modbussim"
)

// gapsOf runs `wotchain gaps --json` for a device (beside the running
// appliance or after it) and returns its gaps.
func gapsOf(t *testing.T, cfgPath, device string, extra ...string) []gaps.Gap {
	t.Helper()
	out, code := runCLI(t, append([]string{"gaps", "--config", cfgPath, "--device", device, "--json"}, extra...)...)
	if code != 0 {
		t.Fatalf("wotchain gaps: exit %d\n%s", code, out)
	}
	var rep struct {
		Gaps []gaps.Gap `json:"gaps"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("wotchain gaps --json: %v\n%s", err, out)
	}
	return rep.Gaps
}

// gapAround returns the one gap that holds t, failing with all of them
// otherwise.
func gapAround(t *testing.T, all []gaps.Gap, at time.Time) gaps.Gap {
	t.Helper()
	var found []gaps.Gap
	for _, g := range all {
		if g.From.Before(at) && g.To.After(at) {
			found = append(found, g)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d gaps hold %s; all gaps: %+v", len(found), at.UTC().Format(time.RFC3339Nano), all)
	}
	return found[0]
}

// A device that stops answering for about 5 s leaves a gap explained by
// its signed status records (poll-failing, then recovered): `wotchain gaps`
// lists it, beside the running appliance, with its reason and the records'
// seqs, and the poll-failing record verifies like a reading.
func TestGapExplainedBySignedStatus(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	sim, err := modbussim.Start("127.0.0.1:0", quiet)
	if err != nil {
		t.Fatal(err)
	}
	addr := sim.Addr()
	t.Cleanup(func() { sim.Close() })
	cfgPath, _ := writeApplianceConfig(t, t.TempDir(), applianceConfig{devices: []string{modbusEntry("mb-gap", addr, "200ms", "300ms")}})
	p := start(t, cfgPath)
	waitAllStored(t, p, []string{"mb-gap"}, time.Time{}, 60*time.Second)
	time.Sleep(time.Second)

	sim.Close()
	down := time.Now()
	time.Sleep(5 * time.Second)
	if sim, err = modbussim.Start(addr, quiet); err != nil {
		t.Fatalf("restart the device: %v", err)
	}
	back := time.Now()
	waitAllStored(t, p, []string{"mb-gap"}, back, 30*time.Second)

	g := gapAround(t, gapsOf(t, cfgPath, "mb-gap"), down.Add(2500*time.Millisecond))
	t.Logf("gap %s..%s (%v): %s", g.From.Format(time.RFC3339Nano), g.To.Format(time.RFC3339Nano), g.Length(), g.Reason)
	if !g.Explained || !strings.HasPrefix(g.Reason, "poll-failing: ") || g.Length() < 4500*time.Millisecond || g.Length() > 8*time.Second {
		t.Fatalf("the device's outage: %+v", g)
	}
	var failing uint64
	for _, r := range g.Records {
		if r.Status == devstatus.PollFailing {
			failing = r.Seq
		}
	}
	if failing == 0 {
		t.Fatalf("no poll-failing record among the gap's: %+v", g.Records)
	}
	// The text form names the seq to verify.
	out, code := runCLI(t, "gaps", "--config", cfgPath, "--device", "mb-gap")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("seq %-8d", failing)) || !strings.Contains(out, "0 UNEXPLAINED") {
		t.Fatalf("wotchain gaps: exit %d\n%s", code, out)
	}
	t.Logf("wotchain gaps:\n%s", out)

	// The record verifies like a reading once its block is anchored.
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, code := verifySeq(t, cfgPath, failing)
		if code == 0 && strings.Contains(out, devstatus.Point) {
			t.Logf("status record %d verifies:\n%s", failing, out)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status record %d does not verify: exit %d\n%s", failing, code, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
	p.stop(t)
}

// An appliance frozen (SIGSTOP) for about 5 s records nothing meanwhile:
// its devices' gap is UNEXPLAINED, even when the poll it froze in records
// poll-failing once it runs again.
func TestGapOfFrozenApplianceUnexplained(t *testing.T) {
	cfgPath, _ := writeApplianceConfig(t, t.TempDir(), applianceConfig{})
	p := start(t, cfgPath)
	waitAllStored(t, p, []string{"press-1"}, time.Time{}, 60*time.Second)
	time.Sleep(time.Second)

	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	time.Sleep(5 * time.Second)
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitAllStored(t, p, []string{"press-1"}, time.Now(), 30*time.Second)
	time.Sleep(500 * time.Millisecond)
	p.stop(t)

	g := gapAround(t, gapsOf(t, cfgPath, "press-1"), frozen.Add(2500*time.Millisecond))
	t.Logf("gap %s..%s (%v): %s", g.From.Format(time.RFC3339Nano), g.To.Format(time.RFC3339Nano), g.Length(), g.Reason)
	if g.Explained || !strings.HasPrefix(g.Reason, "UNEXPLAINED") || g.Length() < 4500*time.Millisecond {
		t.Fatalf("the frozen stretch: %+v", g)
	}
}

// After a kill -9, the restart records a signed started-unclean status
// naming the last stored reading, and it explains the gap the kill left.
func TestUncleanRestartRecorded(t *testing.T) {
	cfgPath, _ := writeApplianceConfig(t, t.TempDir(), applianceConfig{})
	p := start(t, cfgPath)
	waitAllStored(t, p, []string{"press-1"}, time.Time{}, 60*time.Second)
	time.Sleep(time.Second)
	p.kill(t)
	killed := time.Now()
	time.Sleep(1500 * time.Millisecond)

	n := loadNode(t, cfgPath)
	last, err := n.Store.LastDeviceReading("press-1", math.MaxInt64, func(point string) bool { return !devstatus.IsStatus(point) })
	n.Close()
	if err != nil {
		t.Fatal(err)
	}
	p = start(t, cfgPath)
	waitAllStored(t, p, []string{"press-1"}, time.Now(), 60*time.Second)
	p.stop(t)

	g := gapAround(t, gapsOf(t, cfgPath, "press-1"), killed)
	t.Logf("gap %s..%s (%v): %s", g.From.Format(time.RFC3339Nano), g.To.Format(time.RFC3339Nano), g.Length(), g.Reason)
	want := fmt.Sprintf("last stored reading of the device: seq %d at %s", last.Seq, time.Unix(0, last.Time).UTC().Format(time.RFC3339Nano))
	if !g.Explained || !strings.HasPrefix(g.Reason, "started-unclean: previous run (started ") || !strings.Contains(g.Reason, want) {
		t.Fatalf("the gap of the kill: %+v\nwant a started-unclean reason with %q", g, want)
	}
	if !g.From.Equal(time.Unix(0, last.Time)) {
		t.Fatalf("the gap starts at %s, the last reading before the kill was at %s", g.From, time.Unix(0, last.Time).UTC())
	}
}

// statesOf lists the states of a device's stored status records, oldest first.
func statesOf(t *testing.T, n *daemon.Node, device string) []devstatus.State {
	t.Helper()
	var out []devstatus.State
	err := n.Store.PointReadings(device, devstatus.Point, 0, math.MaxInt64, func(seq uint64) (bool, error) {
		raw, err := n.Store.Reading(seq)
		if err != nil {
			return false, err
		}
		r, err := reading.Decode(raw)
		if err != nil {
			return false, err
		}
		out = append(out, devstatus.State(*r.Str))
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
