// Package e2e runs the wotchain binary as a user would: built from source,
// configured by YAML, stopped by signals or killed, and checked through its
// own verify command and its store.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wotchain/wotchain/internal/testserver"
)

// buildBinary builds wotchain once per test binary run.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "wotchain-e2e-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "wotchain")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/wotchain/wotchain/appliance/cmd/wotchain").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func binary(t *testing.T) string {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// simulatedDevices is the simulators section and the device list of the
// e2e configurations: three healthy simulated devices, one per protocol,
// on the given addresses. The device list is last, so callers can append
// entries to it.
func simulatedDevices(modbus, opcua, coap string) string {
	return fmt.Sprintf(`simulators:
  modbus: %[1]s
  opcua: %[2]s
  coap: %[3]s
  tick: 200ms
devices:
  - id: press-1
    protocol: modbus
    interval: 100ms
    timeout: 500ms
    modbus:
      url: tcp://%[1]s
      points:
        - {name: temperature, register: holding, address: 0, type: float32, unit: degC}
        - {name: pressure, register: holding, address: 2, type: uint16, scale: 0.01, unit: bar}
        - {name: cycle_count, register: holding, address: 3, type: uint32, order: CDAB}
        - {name: running, register: coil, address: 0}
  - id: boiler-1
    protocol: opcua
    interval: 150ms
    timeout: 1s
    opcua:
      endpoint: opc.tcp://%[2]s
      points:
        - {name: temperature, node_id: "ns=1;s=Boiler.Temperature", unit: degC}
        - {name: mode, node_id: "ns=1;s=Boiler.Mode"}
  - id: env-1
    protocol: coap
    interval: 200ms
    timeout: 500ms
    coap:
      url: coap://%[3]s
      points:
        - {name: humidity, path: /sensors/humidity, unit: "%%"}
        - {name: co2, path: /sensors/env, format: json, field: co2, unit: ppm}
`, modbus, opcua, coap)
}

// writeConfig writes a demo-like configuration with its own ports and data
// directory, and returns its path.
func writeConfig(t *testing.T, dir string, maxReadings int, sealInterval string, extra ...string) string {
	t.Helper()
	modbus, opcua, coap := testserver.FreeAddr(t), testserver.FreeAddr(t), testserver.FreeUDPAddr(t)
	cfg := fmt.Sprintf(`appliance:
  id: e2e-appliance
  data_dir: data
seal:
  max_readings: %d
  interval: %s
log:
  level: debug
  format: json
`, maxReadings, sealInterval) + simulatedDevices(modbus, opcua, coap)
	cfg += fmt.Sprintf("http:\n  listen: %s\n", testserver.FreeAddr(t))
	cfg += strings.Join(extra, "")
	path := filepath.Join(dir, "appliance.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// proc is a running appliance whose JSON log lines are parsed as they come.
type proc struct {
	cmd  *exec.Cmd
	done chan error

	mu        sync.Mutex
	acked     uint64 // highest seq logged as stored
	anchored  int
	failures  int // outbox steps that failed
	delivered int // blocks whose keys were delivered to partners (per grant)
	errs      []string
	logs      []string
}

func start(t *testing.T, configPath string) *proc {
	t.Helper()
	cmd := exec.Command(binary(t), "run", "--config", configPath)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan error, 1)}
	go p.read(stderr)
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		p.keepLog(t)
	})
	return p
}

// keepLog writes the appliance's whole log to $WOTCHAIN_E2E_LOGDIR when
// the test failed: the long forms run for minutes, and the tail printed on
// failure may not reach back to the cause.
func (p *proc) keepLog(t *testing.T) {
	dir := os.Getenv("WOTCHAIN_E2E_LOGDIR")
	if dir == "" || !t.Failed() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	name := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+fmt.Sprintf("-%d.log", time.Now().UnixNano()))
	if err := os.WriteFile(name, []byte(strings.Join(p.logs, "\n")+"\n"), 0o644); err != nil {
		t.Logf("keep the appliance log: %v", err)
		return
	}
	t.Logf("appliance log: %s", name)
}

func (p *proc) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec struct {
			Level   string `json:"level"`
			Msg     string `json:"msg"`
			SeqLast uint64 `json:"seq_last"`
			Blocks  int    `json:"blocks"`
		}
		line := sc.Text()
		p.mu.Lock()
		p.logs = append(p.logs, line)
		if json.Unmarshal([]byte(line), &rec) == nil {
			switch {
			case rec.Msg == "poll stored" && rec.SeqLast > p.acked:
				p.acked = rec.SeqLast
			case rec.Msg == "block anchored":
				p.anchored++
			case rec.Msg == "outbox step failed; will retry":
				p.failures++
			case rec.Msg == "keys delivered":
				p.delivered += rec.Blocks
			}
			// Only the appliance's errors fail a test, not the simulators'
			// (which the fault tests' broken connections reach too); a
			// healthy start logs none at all (TestDemoFirstRun).
			if rec.Level == "ERROR" && !strings.Contains(line, `"component":"simulator"`) {
				p.errs = append(p.errs, line)
			}
		}
		p.mu.Unlock()
	}
}

func (p *proc) state() (acked uint64, anchored int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acked, p.anchored
}

// waitFor polls cond until it holds or the deadline passes.
func (p *proc) waitFor(t *testing.T, what string, timeout time.Duration, cond func(acked uint64, anchored int) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond(p.state()) {
			return
		}
		select {
		case err := <-p.done:
			t.Fatalf("appliance exited while waiting for %s: %v\n%s", what, err, p.tail())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("timed out waiting for %s\n%s", what, p.tail())
}

// stop sends SIGINT and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("appliance exited with %v\n%s", err, p.tail())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("appliance did not stop within 20s\n%s", p.tail())
	}
}

// kill sends SIGKILL: no chance to flush anything.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *proc) tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	from := max(0, len(p.logs)-30)
	return strings.Join(p.logs[from:], "\n")
}

// runCLI runs a wotchain command and returns its output and exit code.
func runCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary(t), args...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("wotchain %v: %v", args, err)
	}
	return string(out), 0
}
