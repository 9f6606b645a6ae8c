// Package launch runs third-party servers (MinIO, mosquitto, the protocol
// peers) as child processes on 127.0.0.1 that die with their caller. It
// does not import testing, so bench, which ships in the appliance binary,
// starts MinIO with the same code as the tests; package testserver wraps
// it for tests.
package launch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// Another process may take it before the caller binds it.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// LogBuffer collects a server's output while others read it, bounded so a
// chatty server cannot exhaust memory in a long test.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

const maxLog = 1 << 20

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := maxLog - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Proc is a started server process.
type Proc struct {
	Cmd   *exec.Cmd
	stdin io.Closer
	done  chan struct{}
	log   *LogBuffer
}

// Start starts cmd in its own process group, which the kernel kills when
// the caller dies (Pdeathsig). Its stdin is a pipe held open until Kill,
// since some peers exit when their stdin closes. Its output goes to a
// LogBuffer unless cmd already sends it elsewhere.
func Start(cmd *exec.Cmd) (*Proc, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	p := &Proc{Cmd: cmd, done: make(chan struct{}), log: &LogBuffer{}}
	if cmd.Stdout == nil {
		cmd.Stdout = p.log
	}
	if cmd.Stderr == nil {
		cmd.Stderr = p.log
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(cmd.Path), err)
	}
	p.stdin = stdin
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(cmd.Path), err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Kill kills the process group and waits for the process to exit.
func (p *Proc) Kill() {
	_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
	_ = p.stdin.Close()
	<-p.done
}

// Terminate asks the process to stop (SIGTERM), as an operator would, and
// kills it if it has not exited after grace. It reports whether the
// process stopped by itself.
func (p *Proc) Terminate(grace time.Duration) bool {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(grace):
		p.Kill()
		return false
	}
}

// Output is what the process printed so far to the LogBuffer.
func (p *Proc) Output() string { return p.log.String() }

// Await polls ready every interval until it holds. It fails when the
// process exits first or ctx ends.
func (p *Proc) Await(ctx context.Context, interval time.Duration, what string, ready func() bool) error {
	for !ready() {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before %s", filepath.Base(p.Cmd.Path), what)
		case <-ctx.Done():
			return fmt.Errorf("%s: no %s: %w", filepath.Base(p.Cmd.Path), what, context.Cause(ctx))
		case <-time.After(interval):
		}
	}
	return nil
}

// AwaitTCP waits until addr accepts TCP connections.
func (p *Proc) AwaitTCP(ctx context.Context, addr string) error {
	return p.Await(ctx, 20*time.Millisecond, "listener on "+addr, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	})
}

// AwaitHTTP waits until url answers 200.
func (p *Proc) AwaitHTTP(ctx context.Context, url string) error {
	return p.Await(ctx, 100*time.Millisecond, "200 from "+url, func() bool {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}
