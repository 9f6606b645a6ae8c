// Package testserver is the one home of what tests need around servers:
// the missing-server rule, free ports, waits, and launchers of the
// third-party peers (MinIO, mosquitto, pymodbus, node-opcua, libcoap).
// Servers listen on 127.0.0.1 only and are killed when the test ends or
// when the test process dies. A missing server skips the test, except
// under CI=true, where it fails: CI must run every test. The process
// machinery itself is in package launch, which bench shares.
package testserver

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/wotchain/wotchain/internal/testserver/launch"
)

// MissingServer skips the test, or fails it under CI=true.
func MissingServer(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("required test server missing under CI: %s", msg)
	}
	t.Skipf("skipping: %s", msg)
}

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := launch.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// FreeAddr returns a free TCP address on 127.0.0.1 (host:port).
func FreeAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", FreePort(t))
}

// FreeUDPAddr returns a free UDP address on 127.0.0.1 (host:port).
func FreeUDPAddr(t testing.TB) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// Started calls start and closes what it started when the test ends; an
// error from start fails the test with "start <what>". It is the launcher
// of the in-process simulators.
func Started[S io.Closer](t testing.TB, what string, start func() (S, error)) S {
	t.Helper()
	s, err := start()
	if err != nil {
		t.Fatalf("start %s: %v", what, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// WaitFor polls cond every few milliseconds until it holds, failing the
// test when it does not within d.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// RepoRoot is the repository's top directory (where go.mod is).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Command starts cmd (see launch.Start) and kills it at the end of the
// test; its output goes to the test log when the test failed.
func Command(t testing.TB, cmd *exec.Cmd) *launch.Proc {
	t.Helper()
	p, err := launch.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(cmd.Path), p.Output())
		}
	})
	return p
}
