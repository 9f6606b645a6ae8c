package e2e

import (
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/devstatus"
)

// countLogs counts the appliance's log lines containing all of parts.
func (p *proc) countLogs(parts ...string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.logs {
		all := true
		for _, s := range parts {
			all = all && strings.Contains(l, s)
		}
		if all {
			n++
		}
	}
	return n
}

// pollsOf counts a device's stored polls (from the poll log lines).
func (p *proc) pollsOf(device string) int {
	return p.countLogs(`"msg":"poll stored"`, `"device":"`+device+`"`)
}

// TestReloadDevices changes the device list of a running appliance: a
// removed device stops, an added one starts, a changed one restarts, an
// unchanged one keeps running untouched; an invalid file changes nothing.
// Each change is recorded as a status record of its device.
func TestReloadDevices(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, 30, "1s")
	p := start(t, cfgPath)
	p.waitFor(t, "polls of every device", 60*time.Second, func(uint64, int) bool {
		return p.pollsOf("press-1") > 3 && p.pollsOf("boiler-1") > 3 && p.pollsOf("env-1") > 3
	})

	orig, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(orig)
	// Remove env-1 (the last device), change boiler-1's interval, add press-2
	// on the same simulator as press-1.
	cfg = cfg[:strings.Index(cfg, "  - id: env-1")]
	cfg = strings.Replace(cfg, "    interval: 150ms\n", "    interval: 300ms\n", 1)
	modbusAddr := cfg[strings.Index(cfg, "url: tcp://")+len("url: tcp://"):]
	modbusAddr = modbusAddr[:strings.Index(modbusAddr, "\n")]
	cfg += `  - id: press-2
    protocol: modbus
    interval: 100ms
    modbus:
      url: tcp://` + modbusAddr + `
      points:
        - {name: running, register: coil, address: 0}
`
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitFor(t, "the reload", 30*time.Second, func(uint64, int) bool {
		return p.countLogs(`"msg":"configuration reloaded"`) > 0
	})
	if n := p.countLogs(`"msg":"configuration reloaded"`, `"started":["press-2"]`, `"stopped":["env-1"]`, `"restarted":["boiler-1"]`); n == 0 {
		t.Fatalf("reload did not report started press-2, stopped env-1, restarted boiler-1:\n%s", p.tail())
	}
	envAfter, pressAfter := p.pollsOf("env-1"), p.pollsOf("press-1")
	p.waitFor(t, "polls of the added device", 30*time.Second, func(uint64, int) bool { return p.pollsOf("press-2") > 5 })
	// env-1 at most had its final drain poll; press-1 never stopped.
	if got := p.pollsOf("env-1"); got > envAfter+1 {
		t.Fatalf("env-1 kept polling after it was removed: %d -> %d", envAfter, got)
	}
	if p.pollsOf("press-1") <= pressAfter {
		t.Fatal("press-1 stopped polling during the reload")
	}

	// An invalid file is refused and changes nothing.
	if err := os.WriteFile(cfgPath, []byte(cfg+"    bogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitFor(t, "the refused reload", 30*time.Second, func(uint64, int) bool {
		return p.countLogs(`reload refused`) > 0
	})
	before := p.pollsOf("press-2")
	p.waitFor(t, "press-2 still polling", 30*time.Second, func(uint64, int) bool { return p.pollsOf("press-2") > before+3 })
	p.stop(t)
	// Restore the valid file to open the store, and prove every reading.
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	n := openNode(t, cfgPath)
	verifyAll(t, n)
	// Each change is a signed status record of its device.
	for device, want := range map[string][]devstatus.State{
		"env-1":    {devstatus.Started, devstatus.Removed},
		"boiler-1": {devstatus.Started, devstatus.Changed, devstatus.Stopped},
		"press-2":  {devstatus.Added, devstatus.Stopped},
		"press-1":  {devstatus.Started, devstatus.Stopped},
	} {
		if got := statesOf(t, n, device); !slices.Equal(got, want) {
			t.Errorf("%s: status records %v, want %v", device, got, want)
		}
	}
}
