package e2e

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/protocols/opcua/opcuasim"
)

// hostileArray is the OPC UA encoding of the variant Int32[3]{7, 7, 7}
// (mask 0x86: Int32 with array values, then the length); poisoned is the
// same with the length -2, on which gopcua v0.8.0's Variant decoder panics
// in the client's own reader goroutine (U1 in docs/RELIABILITY.md).
var (
	hostileArray = []byte{0x86, 3, 0, 0, 0, 7, 0, 0, 0, 7, 0, 0, 0, 7, 0, 0, 0}
	poisoned     = []byte{0x86, 0xfe, 0xff, 0xff, 0xff, 7, 0, 0, 0, 7, 0, 0, 0, 7, 0, 0, 0}
)

// startHostileOPCUA serves the simulator with its Mode node holding an
// Int32 array, whose length every answer turns to -2.
func startHostileOPCUA(t *testing.T) *opcuasim.Sim {
	t.Helper()
	sim, err := opcuasim.Start(t.Context(), "127.0.0.1:0", slog.New(slog.DiscardHandler), opcuasim.WithResponseFilter(func(chunk []byte) []byte {
		return bytes.ReplaceAll(chunk, hostileArray, poisoned)
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	sim.Set(opcuasim.Mode, []int32{7, 7, 7})
	return sim
}

func hostileEntry(endpoint string, isolate bool) string {
	return fmt.Sprintf(`  - id: ua-hostile
    protocol: opcua
    isolate: %t
    interval: 200ms
    timeout: 500ms
    opcua:
      endpoint: %s
      max_reconnect_delay: 1s
      points:
        - {name: temperature, node_id: "ns=1;s=Boiler.Temperature", unit: degC}
        - {name: mode, node_id: "ns=1;s=Boiler.Mode"}
`, isolate, endpoint)
}

// TestOPCUADecoderPanicIsolated: an OPC UA server answers a Read with a
// variant array of length -2. In-process (isolate: false), gopcua's panic
// in its reader goroutine takes the whole appliance down: the control,
// which shows the fault is real. Isolated (the default for OPC UA), only
// the device's agent dies each time: the device shows the panic as its
// error and restarts its agent with backoff, the three healthy devices
// keep polling, the device recovers once the server answers correctly, and
// the appliance stops cleanly leaving no agent behind.
func TestOPCUADecoderPanicIsolated(t *testing.T) {
	sim := startHostileOPCUA(t)

	t.Run("in-process", func(t *testing.T) {
		cfgPath, _ := writeApplianceConfig(t, t.TempDir(), applianceConfig{devices: []string{hostileEntry(sim.Endpoint(), false)}})
		p := start(t, cfgPath)
		select {
		case err := <-p.done:
			// Exit status 2 is Go's for an unrecovered panic.
			if err == nil || !strings.Contains(err.Error(), "exit status 2") || p.countLogs("panic: reflect.MakeSlice: negative len") == 0 {
				t.Fatalf("appliance ended with %v, want gopcua's panic\n%s", err, p.tail())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("the appliance survived gopcua's panic in-process: the fault was not injected\n%s", p.tail())
		}
	})

	t.Run("isolated", func(t *testing.T) {
		dir := t.TempDir()
		cfgPath, api := writeApplianceConfig(t, dir, applianceConfig{devices: []string{hostileEntry(sim.Endpoint(), true)}})
		p := start(t, cfgPath)
		p.waitFor(t, "readings", 30*time.Second, func(acked uint64, _ int) bool { return acked > 20 })
		from := time.Now()
		const window = 6 * time.Second
		time.Sleep(window)
		to := time.Now()
		select {
		case err := <-p.done:
			t.Fatalf("the appliance died: %v\n%s", err, p.tail())
		default:
		}
		h := deviceHealth(t, api)["ua-hostile"]
		if h.ConsecutiveErrors == 0 || !strings.Contains(h.LastError, "panic: reflect.MakeSlice: negative len") {
			t.Fatalf("ua-hostile health %+v: want consecutive errors naming the agent's panic", h)
		}
		agentFailures := p.countLogs(`"msg":"protocol agent failed; restarting after a backoff"`, `"device":"ua-hostile"`)
		if agentFailures < 2 {
			t.Fatalf("%d agent failures logged in %s; want the agent restarted and failing again\n%s", agentFailures, window, p.tail())
		}

		// The server answers correctly again: the device recovers within
		// the backoff (at most 8 s by now).
		sim.Set(opcuasim.Mode, "auto")
		healed := time.Now()
		deadline := healed.Add(20 * time.Second)
		for deviceHealth(t, api)["ua-hostile"].ConsecutiveErrors != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("ua-hostile did not recover after the server was fixed\n%s", p.tail())
			}
			time.Sleep(200 * time.Millisecond)
		}
		agents := agentPIDs(t)
		p.stop(t)
		if left := stillRunning(agents); len(left) > 0 {
			t.Fatalf("agents %v outlived the appliance", left)
		}

		counts := windowCounts(t, cfgPath, from, to)
		for id, perSecond := range map[string]float64{"press-1": 40, "boiler-1": 2 / 0.15, "env-1": 2 / 0.2} {
			got := float64(counts[id].readings) / window.Seconds()
			if got < 0.8*perSecond {
				t.Errorf("%s: %.1f readings/s beside the hostile device, want about %.1f", id, got, perSecond)
			}
			t.Logf("%s: %.1f readings/s (nominal %.1f)", id, got, perSecond)
		}
		if n := counts["ua-hostile"].readings; n != 0 {
			t.Errorf("ua-hostile stored %d readings while its server was hostile", n)
		}
		after := windowCounts(t, cfgPath, healed, time.Now())["ua-hostile"]
		if after.good == 0 {
			t.Errorf("ua-hostile stored no good reading after recovering")
		}
		t.Logf("ua-hostile: %d agent failures in %s, %d readings (%d good) after the server was fixed", agentFailures, window, after.readings, after.good)
	})
}

// agentPIDs lists the running processes of this test's binary started as
// agents.
func agentPIDs(t *testing.T) []int {
	t.Helper()
	bin := binary(t)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if len(args) == 2 && args[0] == bin && args[1] == "agent" {
			pids = append(pids, pid)
		}
	}
	if len(pids) == 0 {
		t.Fatal("no agent process found while the appliance runs")
	}
	return pids
}

// stillRunning returns the pids that have not ended within 2 s.
func stillRunning(pids []int) []int {
	deadline := time.Now().Add(2 * time.Second)
	for {
		var left []int
		for _, pid := range pids {
			if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !bytes.Contains(st, []byte(") Z ")) {
				left = append(left, pid)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(50 * time.Millisecond)
	}
}
