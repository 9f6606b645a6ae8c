package launch

import (
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestLogBufferIsBounded(t *testing.T) {
	var b LogBuffer
	chunk := strings.Repeat("x", 300<<10)
	for range 5 {
		if n, err := b.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil (a full buffer still accepts)", n, err, len(chunk))
		}
	}
	if got := len(b.String()); got != maxLog {
		t.Fatalf("kept %d bytes, want %d", got, maxLog)
	}
}

func TestAwaitFailsWhenTheProcessExits(t *testing.T) {
	p, err := Start(exec.Command("sh", "-c", "echo starting; exit 3"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = p.Await(ctx, time.Millisecond, "never", func() bool { return false })
	if err == nil || !strings.Contains(err.Error(), "exited") || ctx.Err() != nil {
		t.Fatalf("Await = %v, want an early error saying the process exited", err)
	}
	if out := p.Output(); out != "starting\n" {
		t.Fatalf("output %q", out)
	}
}

// TestStdinStaysOpenAndKillTakesTheGroup: a peer that exits when its stdin
// closes keeps running, and Kill also kills what it started.
func TestStdinStaysOpenAndKillTakesTheGroup(t *testing.T) {
	p, err := Start(exec.Command("sh", "-c", "sleep 60 & echo $!; cat; wait"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Await(ctx, 5*time.Millisecond, "child pid", func() bool { return strings.HasSuffix(p.Output(), "\n") }); err != nil {
		t.Fatal(err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(p.Output()))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
		t.Fatal("process exited with its stdin still open")
	case <-time.After(200 * time.Millisecond):
	}
	p.Kill()
	for deadline := time.Now().Add(5 * time.Second); ; {
		if err := syscall.Kill(child, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %d of the killed process still runs", child)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
