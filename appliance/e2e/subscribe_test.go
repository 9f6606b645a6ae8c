package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/wotchain/wotchain/internal/testserver"
)

// subLine is a line of `wotchain subscribe`.
type subLine struct {
	Grant  string `json:"grant"`
	Seq    uint64 `json:"seq"`
	Device string `json:"device"`
	Check  string `json:"check"`
}

func subLines(t *testing.T, path string) []subLine {
	t.Helper()
	b, _ := os.ReadFile(path)
	var out []subLine
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var x subLine
		if err := json.Unmarshal(l, &x); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		out = append(out, x)
	}
	return out
}

// subscribeProc runs `wotchain subscribe` until stopped with SIGINT.
func subscribeProc(t *testing.T, args ...string) (stop func() string) {
	t.Helper()
	var log bytes.Buffer
	cmd := exec.Command(binary(t), append([]string{"subscribe"}, args...)...)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	return func() string {
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("subscribe: %v\n%s", err, log.String())
			}
		case <-time.After(15 * time.Second):
			t.Errorf("subscribe did not stop\n%s", log.String())
		}
		return log.String()
	}
}

// TestSubscribe: the owner grants a partner press-1; through the binary,
// the appliance streams the grant (catch-up of what was stored before, then
// live) and `wotchain subscribe` writes exactly press-1's readings, each
// signed, once, in order; run again after the blocks are anchored, it
// reports them anchored and verified.
func TestSubscribe(t *testing.T) {
	broker := testserver.StartMosquitto(t)
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, 30, "500ms", fmt.Sprintf("mqtt:\n  broker: mqtt://%s\n", broker.Addr))
	partnerKey := filepath.Join(dir, "partner.hpke")
	mustCLI(t, "keygen", "--kind", "recipient", "--out", partnerKey)

	p := start(t, cfgPath)
	p.waitFor(t, "a few anchored blocks", 60*time.Second, func(_ uint64, anchored int) bool { return anchored >= 4 })
	p.stop(t)
	now := time.Now()
	mustCLI(t, "grant", "--config", cfgPath, "--id", "g-live", "--partner-msp", "PartnerMSP", "--partner-key", partnerKey+".pub",
		"--devices", "press-1", "--from", rfc(now.Add(-time.Hour).UnixNano()), "--to", rfc(now.Add(time.Hour).UnixNano()))

	out := filepath.Join(dir, "live.jsonl")
	stopSub := subscribeProc(t, "--config", cfgPath, "--key", partnerKey, "--grant", "g-live", "--out", out, "--anchor-every", "1h")
	time.Sleep(2 * time.Second) // subscribed: the session exists before the stream starts
	p = start(t, cfgPath)
	testserver.WaitFor(t, 60*time.Second, "live readings at the partner", func() bool { return len(subLines(t, out)) >= 100 })
	p.stop(t)
	time.Sleep(time.Second)
	stopSub()

	lines := subLines(t, out)
	var last uint64
	for _, l := range lines {
		if l.Grant != "g-live" || l.Device != "press-1" || l.Check != "signed" {
			t.Fatalf("line %+v", l)
		}
		if l.Seq <= last {
			t.Fatalf("reading %d after %d: repeated or out of order", l.Seq, last)
		}
		last = l.Seq
	}

	// The blocks are anchored now: a second run proves what it received.
	stopSub = subscribeProc(t, "--config", cfgPath, "--key", partnerKey, "--grant", "g-live", "--out", out, "--anchor-every", "300ms")
	received := map[uint64]bool{}
	for _, l := range lines {
		received[l.Seq] = true
	}
	anchored := func() int {
		n := 0
		for _, l := range subLines(t, out) {
			if l.Check == "anchored and verified" {
				if !received[l.Seq] {
					t.Fatalf("anchored line for reading %d never received", l.Seq)
				}
				n++
			}
		}
		return n
	}
	testserver.WaitFor(t, 30*time.Second, "readings anchored and verified", func() bool { return anchored() >= len(lines)/2 })
	if log := stopSub(); anchored() == 0 {
		t.Fatalf("nothing anchored and verified\n%s", log)
	}
}
