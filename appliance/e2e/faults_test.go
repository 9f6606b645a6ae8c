package e2e

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/devstatus"
	"github.com/wotchain/wotchain/bridge/poll"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/internal/faultdev"
	"github.com/wotchain/wotchain/internal/testserver"
	"github.com/wotchain/wotchain/protocols"
	"github.com/wotchain/wotchain/protocols/coap/coapsim"
	"github.com/wotchain/wotchain/protocols/modbus/modbussim"
	"github.com/wotchain/wotchain/protocols/opcua/opcuasim"
)

// The healthy devices of both runs: the harness's three simulated devices.
var healthyDevices = []string{"press-1", "boiler-1", "env-1"}

// faultyDevice is a device entry whose endpoint misbehaves during the run.
type faultyDevice struct {
	id   string
	yaml string // the device's entry under devices:
	// expect is what the fault window must show for it.
	expect faultExpect
	// remove ends the fault (nil: the fault ends by itself, as for a restart).
	remove func()
	conns  func() faultdev.Stats // the endpoint's counters, when it is a faultdev endpoint
}

type faultExpect int

const (
	expectFailing   faultExpect = iota // every poll fails: no readings, consecutive errors, then recovery
	expectHealthy                      // keeps working (slow but within its timeout)
	expectBadOnly                      // answers that decode to nothing: only Bad readings, or failed polls
	expectSurvives                     // any outcome but a crash (garbage that may decode to values)
	expectRestarted                    // readings, an outage with errors, readings again
)

// deviceEntry is one device under devices:, polled every interval; section
// holds the lines of its protocol's section.
func deviceEntry(id, protocol, interval, timeout, section string) string {
	return fmt.Sprintf("  - id: %s\n    protocol: %s\n    interval: %s\n    timeout: %s\n    %s:\n%s",
		id, protocol, interval, timeout, protocol, section)
}

func modbusEntry(id, addr, interval, timeout string) string {
	return deviceEntry(id, "modbus", interval, timeout, fmt.Sprintf(`      url: tcp://%s
      points:
        - {name: temperature, register: holding, address: 0, type: float32, unit: degC}
`, addr))
}

func opcuaEntry(id, addr string) string {
	return deviceEntry(id, "opcua", "200ms", "500ms", fmt.Sprintf(`      endpoint: opc.tcp://%s
      max_reconnect_delay: 1s
      points:
        - {name: temperature, node_id: "ns=1;s=Boiler.Temperature", unit: degC}
`, addr))
}

func coapEntry(id, addr string) string {
	return deviceEntry(id, "coap", "200ms", "500ms", fmt.Sprintf(`      url: coap://%s
      points:
        - {name: co2, path: /sensors/env, format: json, field: co2, unit: ppm}
`, addr))
}

// applianceConfig is what writeApplianceConfig adds to the harness's layout.
type applianceConfig struct {
	logFormat string   // json (default) or text; the level is always debug
	sections  string   // more top-level sections (storage:, recipients:, ...)
	devices   []string // more entries for the devices list
}

// writeApplianceConfig writes the harness's configuration (the same three
// simulated healthy devices, debug log) with more sections and devices,
// and the HTTP API on a free port. It returns the path and the API's
// address. (writeConfig's extra sections follow the device list, so
// devices cannot be appended to its output.)
func writeApplianceConfig(t *testing.T, dir string, c applianceConfig) (path, api string) {
	t.Helper()
	if c.logFormat == "" {
		c.logFormat = "json"
	}
	modbus, opcua, coap := testserver.FreeAddr(t), testserver.FreeAddr(t), testserver.FreeUDPAddr(t)
	api = testserver.FreeAddr(t)
	cfg := fmt.Sprintf(`appliance:
  id: e2e-appliance
  data_dir: data
seal:
  max_readings: 20
  interval: 1s
log:
  level: debug
  format: %[2]s
http:
  listen: %[1]s
%[3]s`, api, c.logFormat, c.sections) + simulatedDevices(modbus, opcua, coap)
	cfg += strings.Join(c.devices, "")
	path = filepath.Join(dir, "appliance.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, api
}

// deviceHealth reads every device's health from the appliance's HTTP API.
func deviceHealth(t *testing.T, api string) map[string]poll.Health {
	t.Helper()
	resp, err := http.Get("http://" + api + "/api/devices")
	if err != nil {
		t.Fatalf("GET /api/devices: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		Devices []struct {
			ID     string `json:"id"`
			Health struct {
				Polls             uint64 `json:"polls"`
				Errors            uint64 `json:"errors"`
				ConsecutiveErrors uint64 `json:"consecutive_errors"`
				Readings          uint64 `json:"readings"`
				LastError         string `json:"last_error"`
			} `json:"health"`
		} `json:"devices"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/devices: %s, %v", resp.Status, err)
	}
	out := map[string]poll.Health{}
	for _, d := range body.Devices {
		out[d.ID] = poll.Health{Polls: d.Health.Polls, Errors: d.Health.Errors, ConsecutiveErrors: d.Health.ConsecutiveErrors,
			Readings: d.Health.Readings, LastError: d.Health.LastError}
	}
	return out
}

// deviceWindow is what one device did in a time window, from the store.
type deviceWindow struct {
	readings, good int
	badReason      string // the reason of the last Bad reading
}

// windowCounts counts each device's stored readings of values taken in
// [from, to): status records (poll-failing, recovered, ...) are left out.
func windowCounts(t *testing.T, cfgPath string, from, to time.Time) map[string]deviceWindow {
	t.Helper()
	n := openNode(t, cfgPath)
	next, err := n.Store.NextSeq()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]deviceWindow{}
	for seq := uint64(1); seq < next; seq++ {
		raw, err := n.Store.Reading(seq)
		if err != nil {
			t.Fatal(err)
		}
		r, err := reading.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		if r.ApplianceTime < from.UnixNano() || r.ApplianceTime >= to.UnixNano() || devstatus.IsStatus(r.Point) {
			continue
		}
		w := out[r.DeviceID]
		w.readings++
		if r.Quality == protocols.Good {
			w.good++
		} else {
			w.badReason = r.Reason
		}
		out[r.DeviceID] = w
	}
	return out
}

// logEvents is what the appliance's JSON log says about each device.
type logEvents struct {
	maxConsecutive map[string]int       // highest "consecutive" of a "poll failed" line
	recovered      map[string]time.Time // last "device recovered"
	stored         map[string]time.Time // last "poll stored"
	panics         []string
}

func (p *proc) events() logEvents {
	p.mu.Lock()
	defer p.mu.Unlock()
	ev := logEvents{maxConsecutive: map[string]int{}, recovered: map[string]time.Time{}, stored: map[string]time.Time{}}
	for _, line := range p.logs {
		if strings.Contains(line, "panic") || strings.HasPrefix(line, "goroutine ") {
			ev.panics = append(ev.panics, line)
		}
		var rec struct {
			Time        time.Time `json:"time"`
			Msg         string    `json:"msg"`
			Device      string    `json:"device"`
			Consecutive int       `json:"consecutive"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		switch rec.Msg {
		case "poll failed":
			ev.maxConsecutive[rec.Device] = max(ev.maxConsecutive[rec.Device], rec.Consecutive)
		case "device recovered":
			ev.recovered[rec.Device] = rec.Time
		case "poll stored":
			ev.stored[rec.Device] = rec.Time
		}
	}
	return ev
}

// linesAbout returns the last n log lines naming each device.
func (p *proc) linesAbout(ids []string, n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, id := range ids {
		var mine []string
		for _, line := range p.logs {
			if strings.Contains(line, `"device":"`+id+`"`) {
				mine = append(mine, line)
			}
		}
		out = append(out, mine[max(0, len(mine)-n):]...)
	}
	return strings.Join(out, "\n")
}

// openFDs counts the appliance process's open file descriptors.
func openFDs(t *testing.T, p *proc) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid))
	if err != nil {
		t.Fatalf("count the appliance's file descriptors: %v", err)
	}
	return len(ents)
}

// waitAllStored waits until every device in ids has stored a poll after since.
func waitAllStored(t *testing.T, p *proc, ids []string, since time.Time, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var missing []string
		ev := p.events()
		for _, id := range ids {
			if !ev.stored[id].After(since) {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no readings from %v within %v\n%s", missing, timeout, p.linesAbout(missing, 5))
		}
		select {
		case err := <-p.done:
			t.Fatalf("appliance exited while waiting for readings from %v: %v\n%s", missing, err, p.tail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// restartCycle is how often the restarted simulators go down and come back.
const restartCycle = 6 * time.Second

// faultWindow is how long the faults last: 6 s in CI,
// WOTCHAIN_E2E_FAULT_WINDOW=10m (say) for the long form.
func faultWindow(t *testing.T) time.Duration {
	if v := os.Getenv("WOTCHAIN_E2E_FAULT_WINDOW"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < restartCycle {
			t.Fatalf("WOTCHAIN_E2E_FAULT_WINDOW=%q: want a duration of at least %v", v, restartCycle)
		}
		return d
	}
	return restartCycle
}

func rate(w deviceWindow, d time.Duration) float64 { return float64(w.readings) / d.Seconds() }

// TestDeviceFaultsIsolated runs the appliance twice with the same three
// healthy simulated devices: once alone (the baseline) and once beside
// devices that misbehave. The faulty ones are a Modbus TCP device that
// accepts and never answers, one that answers random bytes, one that
// answers well-framed Modbus responses around random data, one that
// answers just under its timeout and one just over, an OPC UA endpoint
// that accepts TCP and never answers, one that answers random bytes, a
// CoAP endpoint that answers random datagrams and one that answers
// well-formed CoAP around random payloads, and a Modbus and an OPC UA
// simulator restarted mid-run. It checks that the healthy devices keep
// their reading rate (within 20% of the baseline), the faulty devices show
// consecutive errors and recover once the fault is removed, no connection
// or descriptor leaks, nothing panics, and every stored reading verifies.
func TestDeviceFaultsIsolated(t *testing.T) {
	window := faultWindow(t)

	// Baseline: the healthy devices alone.
	baseDir := t.TempDir()
	baseCfg, _ := writeApplianceConfig(t, baseDir, applianceConfig{})
	p := start(t, baseCfg)
	waitAllStored(t, p, healthyDevices, time.Time{}, 60*time.Second)
	time.Sleep(time.Second)
	b0 := time.Now()
	time.Sleep(min(window, 30*time.Second)) // rates: a longer baseline adds nothing
	b1 := time.Now()
	p.stop(t)
	baseline := windowCounts(t, baseCfg, b0, b1)
	for _, id := range healthyDevices {
		if baseline[id].readings == 0 {
			t.Fatalf("baseline: no readings from %s in the window: %v", id, baseline)
		}
	}

	// The faulty devices' endpoints, each in front of a real simulator of
	// its own, so that removing the fault brings a working device back.
	ctx := t.Context()
	quiet := slog.New(slog.DiscardHandler)
	mbUp, err := modbussim.Start("127.0.0.1:0", quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mbUp.Close() })
	coapUp, err := coapsim.Start("127.0.0.1:0", quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { coapUp.Close() })

	var faulty []*faultyDevice
	tcp := func(id string, upstream string, mode faultdev.Mode, setup func(*faultdev.TCP), entry func(addr string) string, expect faultExpect) {
		s, err := faultdev.ListenTCP(ctx, upstream, mode)
		if err != nil {
			t.Fatal(err)
		}
		if setup != nil {
			setup(s)
		}
		faulty = append(faulty, &faultyDevice{id: id, yaml: entry(s.Addr()), expect: expect, remove: func() { s.SetMode(faultdev.Pass) }, conns: s.Stats})
	}
	udp := func(id string, mode faultdev.Mode, g faultdev.Garbler, expect faultExpect) {
		s, err := faultdev.ListenUDP(ctx, coapUp.Addr(), mode)
		if err != nil {
			t.Fatal(err)
		}
		s.SetGarbler(g)
		faulty = append(faulty, &faultyDevice{id: id, yaml: coapEntry(id, s.Addr()), expect: expect, remove: func() { s.SetMode(faultdev.Pass) }, conns: s.Stats})
	}
	mb := func(id, interval, timeout string) func(string) string {
		return func(addr string) string { return modbusEntry(id, addr, interval, timeout) }
	}
	ua := func(id string) func(string) string { return func(addr string) string { return opcuaEntry(id, addr) } }

	tcp("mb-silent", mbUp.Addr(), faultdev.Silent, nil, mb("mb-silent", "200ms", "300ms"), expectFailing)
	tcp("mb-garbage", mbUp.Addr(), faultdev.Garbage, nil, mb("mb-garbage", "200ms", "300ms"), expectFailing)
	tcp("mb-garbage-framed", mbUp.Addr(), faultdev.Garbage, func(s *faultdev.TCP) { s.SetGarbler(faultdev.ModbusTCPFramed) }, mb("mb-garbage-framed", "200ms", "300ms"), expectSurvives)
	tcp("mb-slow-under", mbUp.Addr(), faultdev.Slow, func(s *faultdev.TCP) { s.SetSlow(800 * time.Millisecond) }, mb("mb-slow-under", "200ms", "1s"), expectHealthy)
	tcp("mb-slow-over", mbUp.Addr(), faultdev.Slow, func(s *faultdev.TCP) { s.SetSlow(1200 * time.Millisecond) }, mb("mb-slow-over", "200ms", "1s"), expectFailing)
	// gopcua's server answers GetEndpoints with no endpoint when asked
	// through another address than its own, so an OPC UA fault cannot be
	// removed by passing through: the endpoint is replaced by a real
	// simulator on the same address, as when a server is repaired.
	uaFault := func(id string, mode faultdev.Mode) {
		s, err := faultdev.ListenTCP(ctx, "", mode)
		if err != nil {
			t.Fatal(err)
		}
		addr := s.Addr()
		faulty = append(faulty, &faultyDevice{id: id, yaml: ua(id)(addr), expect: expectFailing, conns: s.Stats, remove: func() {
			s.Close()
			sim, err := opcuasim.Start(ctx, addr, quiet)
			if err != nil {
				t.Fatalf("%s: start the OPC UA simulator in place of the faulty endpoint: %v", id, err)
			}
			t.Cleanup(func() { sim.Close() })
		}})
	}
	uaFault("ua-silent", faultdev.Silent)
	uaFault("ua-garbage", faultdev.Garbage)
	udp("coap-garbage", faultdev.Garbage, faultdev.RandomBytes, expectFailing)
	udp("coap-garbage-framed", faultdev.Garbage, faultdev.CoAPFramed, expectBadOnly)

	// Simulators restarted mid-run (stopped for 2.5 s).
	mbRestart, err := modbussim.Start("127.0.0.1:0", quiet)
	if err != nil {
		t.Fatal(err)
	}
	uaRestart, err := opcuasim.Start(ctx, "127.0.0.1:0", quiet)
	if err != nil {
		t.Fatal(err)
	}
	mbRestartAddr, uaRestartAddr := mbRestart.Addr(), strings.TrimPrefix(uaRestart.Endpoint(), "opc.tcp://")
	t.Cleanup(func() { mbRestart.Close(); uaRestart.Close() })
	faulty = append(faulty,
		&faultyDevice{id: "mb-restart", yaml: modbusEntry("mb-restart", mbRestartAddr, "200ms", "300ms"), expect: expectRestarted},
		&faultyDevice{id: "ua-restart", yaml: opcuaEntry("ua-restart", uaRestartAddr), expect: expectRestarted})

	var entries []string
	for _, f := range faulty {
		entries = append(entries, f.yaml)
	}
	dir := t.TempDir()
	cfgPath, api := writeApplianceConfig(t, dir, applianceConfig{devices: entries})

	p = start(t, cfgPath)
	waitAllStored(t, p, withIDs(healthyDevices, "mb-restart", "ua-restart"), time.Time{}, 60*time.Second)
	time.Sleep(time.Second)
	t0 := time.Now()
	fds0 := openFDs(t, p)

	// The restarts: in every 6 s of the window, both simulators stop 1.5 s
	// in, for 2.5 s (once in the short form).
	var restartAt time.Time
	backAt := map[string]time.Time{}
	restarts := 0
	for cycle := t0; cycle.Add(restartCycle).Sub(t0) <= window; cycle = cycle.Add(restartCycle) {
		time.Sleep(time.Until(cycle.Add(1500 * time.Millisecond)))
		mbRestart.Close()
		uaRestart.Close()
		if restartAt.IsZero() {
			restartAt = time.Now()
		}
		time.Sleep(2500 * time.Millisecond)
		if mbRestart, err = modbussim.Start(mbRestartAddr, quiet); err != nil {
			t.Fatalf("restart %d of the Modbus simulator: %v", restarts+1, err)
		}
		backAt["mb-restart"] = time.Now()
		if uaRestart, err = opcuasim.Start(ctx, uaRestartAddr, quiet); err != nil {
			t.Fatalf("restart %d of the OPC UA simulator: %v", restarts+1, err)
		}
		backAt["ua-restart"] = time.Now()
		restarts++
	}
	time.Sleep(window - time.Since(t0))
	t1 := time.Now()
	fds1 := openFDs(t, p)
	duringFault := p.events()
	health := deviceHealth(t, api)
	endpointStats := map[string]faultdev.Stats{}
	for _, f := range faulty {
		if f.conns != nil {
			endpointStats[f.id] = f.conns()
		}
	}

	// Remove every fault and wait for each device to be read again.
	for _, f := range faulty {
		if f.remove != nil {
			f.remove()
		}
	}
	var ids []string
	for _, f := range faulty {
		ids = append(ids, f.id)
	}
	waitAllStored(t, p, withIDs(healthyDevices, ids...), t1, 30*time.Second)
	recoveredAt := time.Now()
	healthAfter := deviceHealth(t, api)
	p.stop(t)
	after := p.events()

	if len(after.panics) > 0 {
		t.Errorf("the appliance logged a panic:\n%s", strings.Join(after.panics, "\n"))
	}
	if len(p.errs) > 0 {
		t.Errorf("the appliance logged errors:\n%s", strings.Join(p.errs, "\n"))
	}
	if fds1 > fds0+20 {
		t.Errorf("the appliance's open descriptors grew from %d to %d during the faults", fds0, fds1)
	}

	counts := windowCounts(t, cfgPath, t0, t1)
	for _, id := range healthyDevices {
		base, got := rate(baseline[id], b1.Sub(b0)), rate(counts[id], t1.Sub(t0))
		t.Logf("healthy %-8s baseline %.1f readings/s, beside the faults %.1f readings/s (%+.0f%%)", id, base, got, 100*(got/base-1))
		if got < 0.8*base || got > 1.2*base {
			t.Errorf("%s: %.1f readings/s beside the faulty devices, %.1f alone: more than 20%% apart", id, got, base)
		}
	}
	for _, f := range faulty {
		w, st := counts[f.id], endpointStats[f.id]
		h := health[f.id]
		t.Logf("faulty  %-19s window: %3d readings (%3d good); health at the end of the window: %d polls, %d consecutive errors; endpoint %+v",
			f.id, w.readings, w.good, h.Polls, h.ConsecutiveErrors, st)
		if w.badReason != "" {
			t.Logf("        %-19s a Bad reading's reason: %s", f.id, w.badReason)
		}
		if f.expect != expectSurvives && f.expect != expectBadOnly && healthAfter[f.id].ConsecutiveErrors != 0 {
			t.Errorf("%s: %d consecutive errors after the fault was removed and it was read again", f.id, healthAfter[f.id].ConsecutiveErrors)
		}
		switch f.expect {
		case expectFailing:
			if w.readings != 0 {
				t.Errorf("%s: %d readings stored from a device that cannot answer", f.id, w.readings)
			}
			if h.ConsecutiveErrors < 5 || h.ConsecutiveErrors != h.Errors || duringFault.maxConsecutive[f.id] == 0 {
				t.Errorf("%s: health shows %d consecutive errors of %d errors in %d polls (logged up to %d), want at least 5, all consecutive",
					f.id, h.ConsecutiveErrors, h.Errors, h.Polls, duringFault.maxConsecutive[f.id])
			}
			if !after.recovered[f.id].After(t1) {
				t.Errorf("%s: no \"device recovered\" after the fault was removed", f.id)
			}
		case expectHealthy:
			if w.good == 0 || h.Errors != 0 {
				t.Errorf("%s: answers within its timeout, yet %d good readings and %d errors", f.id, w.good, h.Errors)
			}
		case expectBadOnly:
			if w.good != 0 {
				t.Errorf("%s: %d Good readings decoded from random payloads", f.id, w.good)
			}
		case expectRestarted:
			if duringFault.maxConsecutive[f.id] == 0 {
				t.Errorf("%s: no failed poll while its simulator was down", f.id)
			}
			if !after.recovered[f.id].After(backAt[f.id]) {
				t.Errorf("%s: no \"device recovered\" after its simulator came back", f.id)
			}
			before := windowCounts(t, cfgPath, t0, restartAt)
			again := windowCounts(t, cfgPath, backAt[f.id], recoveredAt.Add(time.Second))
			if before[f.id].good == 0 || again[f.id].good == 0 {
				t.Errorf("%s: good readings before the restart %d, after %d", f.id, before[f.id].good, again[f.id].good)
			}
		}
		// A silent endpoint holds every connection the appliance leaves
		// open: more than a couple means connections leak.
		if st.Open > 2 {
			t.Errorf("%s: %d connections open at the end of the fault window (accepted %d)", f.id, st.Open, st.Accepted)
		}
	}
	t.Logf("faults removed at +%v (simulators restarted %d times); every device read again %v later; descriptors %d -> %d",
		t1.Sub(t0).Round(time.Millisecond), restarts, recoveredAt.Sub(t1).Round(time.Millisecond), fds0, fds1)

	// Nothing acknowledged was lost, and every stored reading verifies.
	n := openNode(t, cfgPath)
	acked, _ := p.state()
	if next, _ := n.Store.NextSeq(); next-1 < acked {
		t.Fatalf("store ends at seq %d but %d were acknowledged", next-1, acked)
	}
	perDevice := verifyAll(t, n)
	t.Logf("%d readings acknowledged, all stored and verified: %v", acked, perDevice)
}

// withIDs returns a copy of ids with more appended.
func withIDs(ids []string, more ...string) []string {
	return append(append([]string(nil), ids...), more...)
}
