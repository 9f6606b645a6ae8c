package e2e

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestDiskBudgetPausesLowPriorityDevices sets a store cap the store
// exceeds at once: the appliance raises an alarm and stops polling its
// low-priority devices, keeps the high-priority one polling, and neither
// crashes nor damages the store (every stored reading still verifies).
func TestDiskBudgetPausesLowPriorityDevices(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, 30, "1s", "budget:\n  max_bytes: 1KiB\n")
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(raw), "  - id: press-1\n", "  - id: press-1\n    priority: 10\n", 1)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, cfgPath)
	p.waitFor(t, "the disk budget alarm", 60*time.Second, func(uint64, int) bool {
		return p.countLogs("ALARM disk budget reached: lowest-priority devices paused") > 0
	})
	if p.countLogs(`"paused":["boiler-1","env-1"]`) == 0 {
		t.Fatalf("the alarm did not name the paused low-priority devices:\n%s", p.tail())
	}
	boiler, env, press := p.pollsOf("boiler-1"), p.pollsOf("env-1"), p.pollsOf("press-1")
	p.waitFor(t, "press-1 polling on", 30*time.Second, func(uint64, int) bool { return p.pollsOf("press-1") > press+10 })
	if p.pollsOf("boiler-1") != boiler || p.pollsOf("env-1") != env {
		t.Fatalf("paused devices kept polling: boiler-1 %d -> %d, env-1 %d -> %d", boiler, p.pollsOf("boiler-1"), env, p.pollsOf("env-1"))
	}
	p.stop(t)
	verifyAll(t, openNode(t, cfgPath))
}
