package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wotchain/wotchain/internal/testserver"
)

// demoConfig is configs/demo.yaml as shipped, with a data directory and
// ports of the test's own.
func demoConfig(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile("../../configs/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(data)
	for _, r := range []struct{ old, new string }{
		{"data_dir: ../data/demo", "data_dir: " + filepath.Join(dir, "data")},
		{"127.0.0.1:15020", testserver.FreeAddr(t)},
		{"127.0.0.1:14840", testserver.FreeAddr(t)},
		{"127.0.0.1:15683", testserver.FreeUDPAddr(t)},
		{"127.0.0.1:8080", testserver.FreeAddr(t)},
	} {
		if !strings.Contains(cfg, r.old) {
			t.Fatalf("configs/demo.yaml no longer has %q: update the test", r.old)
		}
		cfg = strings.ReplaceAll(cfg, r.old, r.new)
	}
	path := filepath.Join(dir, "demo.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// textLog collects an appliance's log lines as a user sees them.
type textLog struct {
	mu       sync.Mutex
	lines    []string
	anchored int
}

func (l *textLog) read(sc *bufio.Scanner) {
	for sc.Scan() {
		l.mu.Lock()
		l.lines = append(l.lines, sc.Text())
		if strings.Contains(sc.Text(), `msg="block anchored"`) {
			l.anchored++
		}
		l.mu.Unlock()
	}
}

func (l *textLog) snapshot() (lines []string, anchored int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...), l.anchored
}

// The demo tried as a new user would: `make demo` on configs/demo.yaml
// logs no WARN or ERROR line, and nothing but the appliance's own log
// lines, from start to a clean stop; the README's verify command proves a
// reading while it runs, and with --wait the newest one.
func TestDemoFirstRun(t *testing.T) {
	dir := t.TempDir()
	cfg := demoConfig(t, dir)
	cmd := exec.Command(binary(t), "run", "--config", cfg)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	var log textLog
	read := make(chan struct{})
	go func() {
		defer close(read)
		log.read(bufio.NewScanner(stderr))
	}()
	deadline := time.Now().Add(60 * time.Second)
	for _, anchored := log.snapshot(); anchored < 2; _, anchored = log.snapshot() {
		if time.Now().After(deadline) {
			lines, _ := log.snapshot()
			t.Fatalf("no two blocks anchored within 60s:\n%s", strings.Join(lines, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}

	out, code := runCLI(t, "verify", "--config", cfg, "--device", "boiler-1", "--point", "temperature")
	t.Logf("verify:\n%s", out)
	if code != 0 || !regexp.MustCompile(`(?m)^reading \d+: verified$`).MatchString(out) {
		t.Fatalf("verify of the newest reading exited %d:\n%s", code, out)
	}
	proving := regexp.MustCompile(`(?m)^boiler-1/temperature: reading (\d+) is (not sealed yet|in block \d+, (sealed|uploaded) but not anchored yet); proving reading (\d+), its newest reading in an anchored block \(--wait waits for reading (\d+)\)$`)
	if strings.Contains(out, "proving reading") && !proving.MatchString(out) {
		t.Fatalf("verify says which reading it proves, but not as expected:\n%s", out)
	}
	checkREADMESample(t, out)

	out, code = runCLI(t, "verify", "--config", cfg, "--device", "boiler-1", "--point", "temperature", "--wait", "--timeout", "30s")
	t.Logf("verify --wait:\n%s", out)
	if code != 0 || !regexp.MustCompile(`(?m)^reading \d+: verified$`).MatchString(out) {
		t.Fatalf("verify --wait exited %d:\n%s", code, out)
	}

	_ = cmd.Process.Signal(syscall.SIGINT)
	<-read
	if err := cmd.Wait(); err != nil {
		t.Fatalf("demo stopped with %v", err)
	}
	lines, _ := log.snapshot()
	var bad []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "time=") || strings.Contains(l, " level=WARN ") || strings.Contains(l, " level=ERROR ") {
			bad = append(bad, l)
		}
	}
	if len(bad) > 0 {
		t.Fatalf("a healthy demo logged %d lines that are warnings, errors or not the appliance's:\n%s", len(bad), strings.Join(bad, "\n"))
	}
	if len(lines) == 0 || !strings.Contains(lines[len(lines)-1], "level=INFO") {
		t.Fatalf("log ends with %q", lines[len(lines)-1:])
	}
}

// checkREADMESample holds the README's sample of verify choosing a reading
// to what verify printed, numbers aside, when it printed the same case.
func checkREADMESample(t *testing.T, out string) {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("`(boiler-1/temperature: reading [^`]+)`").FindStringSubmatch(string(readme))
	if m == nil {
		t.Fatal("README: no sample of verify proving an earlier reading")
	}
	numbers := regexp.MustCompile(`\d+`)
	sample := numbers.ReplaceAllString(strings.Join(strings.Fields(m[1]), " "), "N")
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "is not sealed yet; proving reading") {
			if got := numbers.ReplaceAllString(line, "N"); got != sample {
				t.Fatalf("verify printed\n  %s\nthe README shows\n  %s", line, m[1])
			}
		}
	}
}
