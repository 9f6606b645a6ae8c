package testserver

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that records a skip or a failure and, like
// testing.T, stops the calling goroutine there.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestMissingServer(t *testing.T) {
	for _, ci := range []string{"", "false", "true"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			r := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				MissingServer(r, "no %s here", "broker")
			}()
			<-done
			got, other := r.skipped, r.failed
			if ci == "true" {
				got, other = r.failed, r.skipped
			}
			if !strings.Contains(got, "no broker here") || other != "" {
				t.Fatalf("skipped %q, failed %q: want only a %s saying why", r.skipped, r.failed,
					map[bool]string{true: "failure", false: "skip"}[ci == "true"])
			}
		})
	}
}

type closer struct{ closed bool }

func (c *closer) Close() error { c.closed = true; return nil }

func TestStarted(t *testing.T) {
	var c *closer
	t.Run("started", func(t *testing.T) {
		c = Started(t, "closer", func() (*closer, error) { return &closer{}, nil })
		if c.closed {
			t.Fatal("closed before the test ended")
		}
	})
	if c == nil || !c.closed {
		t.Fatal("not closed when the test ended")
	}

	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Started(r, "nothing", func() (*closer, error) { return nil, errors.New("no port") })
	}()
	<-done
	if r.failed != "start nothing: no port" {
		t.Fatalf("failed %q, want the start error", r.failed)
	}
}
