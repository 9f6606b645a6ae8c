// Package isolate runs a device's protocol client in a child process (an
// agent), so that a fault inside a third-party protocol stack ends that
// process and not the appliance. A library that panics in a goroutine of
// its own (gopcua v0.8.0 does on some malformed messages) cannot be
// recovered from in-process: the whole appliance would stop, and with it
// every other device. Isolated, the device's poll fails with the agent's
// last words, the agent is started again with backoff, and every other
// device polls on. Acknowledged readings are safe either way (they are in
// the store before they count).
//
// Source is the appliance's side and implements protocols.Source; Serve is
// the agent's side.
package isolate

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/wotchain/wotchain/protocols"
)

// Config says how to start a device's agent.
type Config struct {
	DeviceID string
	// Command returns a new, unstarted command for the agent (it is
	// started again after each exit). Its standard streams are the
	// package's.
	Command func() *exec.Cmd
	// Hello is handed to the agent's build function: what to build.
	Hello []byte
	// Logger receives the agent's log lines (JSON lines on its standard
	// error, re-logged at their level) and its exits.
	Logger *slog.Logger
	// MinBackoff and MaxBackoff bound the wait before an agent that
	// exited is started again; default 1s and 30s.
	MinBackoff, MaxBackoff time.Duration
	// Grace is how long past a poll's deadline the agent may take to
	// answer before it is killed as hung; default 2s.
	Grace time.Duration
}

// Source polls a device through its agent.
type Source struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex // one Poll or Close at a time
	ag        *agent     // nil: not running
	nextID    uint64
	notBefore time.Time // no restart before then
	backoff   time.Duration
	lastExit  string
	closed    bool

	statsMu  sync.Mutex
	stats    protocols.Stats
	restarts uint64
}

// New returns a source; its agent starts on the first Poll.
func New(cfg Config) *Source {
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(30*time.Second, cfg.MinBackoff)
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 2 * time.Second
	}
	log := protocols.Logger(cfg.Logger)
	return &Source{cfg: cfg, log: log.With("agent", cfg.DeviceID), backoff: cfg.MinBackoff}
}

// agent is one running child process.
type agent struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	resp  chan response // from the stdout reader; closed at EOF
	// exited is closed once the process is reaped; why says how it ended
	// (set before exited is closed).
	exited chan struct{}
	why    string
}

// ErrClosed is returned by Poll after Close.
var ErrClosed = errors.New("isolate: source closed")

// Poll asks the agent for one poll, starting it first if needed.
func (s *Source) Poll(ctx context.Context) ([]protocols.Sample, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.ag == nil {
		if wait := time.Until(s.notBefore); wait > 0 {
			return nil, fmt.Errorf("protocol agent restarts in %s; it exited: %s", wait.Round(time.Millisecond), s.lastExit)
		}
		if err := s.start(); err != nil {
			s.failed(err.Error())
			return nil, fmt.Errorf("protocol agent: %w", err)
		}
	}
	ag := s.ag
	s.nextID++
	req := request{ID: s.nextID}
	if d, ok := ctx.Deadline(); ok {
		req.Deadline = d.UnixNano()
	}
	if err := writeFrame(ag.stdin, req); err != nil {
		return nil, s.lost(ag, fmt.Errorf("send poll: %w", err))
	}
	var grace <-chan time.Time
	done := ctx.Done()
	for {
		select {
		case resp, ok := <-ag.resp:
			if !ok {
				return nil, s.lost(ag, errors.New("agent closed its output"))
			}
			if resp.ID != req.ID {
				continue // the answer to a poll abandoned earlier
			}
			return s.answered(resp)
		case <-ag.exited:
			return nil, s.lost(ag, nil)
		case <-done:
			// The agent has the same deadline and should answer; one
			// that does not is hung and is killed.
			done, grace = nil, time.After(s.cfg.Grace)
		case <-grace:
			_ = ag.cmd.Process.Kill()
			return nil, s.lost(ag, fmt.Errorf("no answer %s after the poll's deadline: killed", s.cfg.Grace))
		}
	}
}

func (s *Source) answered(resp response) ([]protocols.Sample, error) {
	s.backoff = s.cfg.MinBackoff
	if resp.Stats != nil {
		s.statsMu.Lock()
		s.stats = *resp.Stats
		s.statsMu.Unlock()
	}
	samples := make([]protocols.Sample, len(resp.Samples))
	for i, w := range resp.Samples {
		samples[i] = fromWire(w)
	}
	if resp.Err != "" {
		return samples, errors.New(resp.Err)
	}
	return samples, nil
}

// lost waits for a failed agent to end and schedules its restart.
func (s *Source) lost(ag *agent, cause error) error {
	ag.stop(s.cfg.Grace)
	why := ag.why
	if cause != nil {
		why = cause.Error() + "; " + why
	}
	s.ag = nil
	s.failed(why)
	return fmt.Errorf("protocol agent exited: %s", why)
}

func (s *Source) failed(why string) {
	s.lastExit = why
	s.notBefore = time.Now().Add(s.backoff)
	s.log.Error("protocol agent failed; restarting after a backoff", "device", s.cfg.DeviceID, "why", why, "backoff", s.backoff)
	s.backoff = min(2*s.backoff, s.cfg.MaxBackoff)
	s.statsMu.Lock()
	s.stats.Connected = false
	s.statsMu.Unlock()
}

func (s *Source) start() error {
	cmd := s.cfg.Command()
	setParentDeath(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	ag := &agent{cmd: cmd, stdin: stdin, resp: make(chan response, 1), exited: make(chan struct{})}
	var last lastWords
	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		defer close(ag.resp)
		r := bufio.NewReader(stdout)
		for {
			var resp response
			if err := readFrame(r, &resp); err != nil {
				if !errors.Is(err, io.EOF) {
					last.add("unreadable answer: " + err.Error())
					_ = cmd.Process.Kill()
				}
				_, _ = io.Copy(io.Discard, r)
				return
			}
			ag.resp <- resp
		}
	}()
	go func() {
		defer readers.Done()
		s.relay(stderr, &last)
	}()
	go func() {
		readers.Wait()
		err := cmd.Wait()
		ag.why = last.summary(err)
		close(ag.exited)
	}()
	if s.restarts > 0 || s.lastExit != "" {
		s.log.Info("protocol agent started again", "device", s.cfg.DeviceID, "pid", cmd.Process.Pid)
	}
	s.statsMu.Lock()
	if s.lastExit != "" {
		s.restarts++
	}
	s.statsMu.Unlock()
	if err := writeFrame(stdin, s.cfg.Hello); err != nil {
		_ = cmd.Process.Kill()
		<-ag.exited
		return fmt.Errorf("send hello: %w; %s", err, ag.why)
	}
	s.ag = ag
	return nil
}

// relay re-logs the agent's JSON log lines at their level and keeps what
// is not JSON (a panic and its stack) for the exit summary.
func (s *Source) relay(r io.Reader, last *lastWords) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			last.add(line)
			continue
		}
		var level slog.Level
		if lv, ok := rec["level"].(string); !ok || level.UnmarshalText([]byte(lv)) != nil {
			level = slog.LevelInfo
		}
		msg, _ := rec["msg"].(string)
		attrs := make([]any, 0, 2*len(rec))
		for k, v := range rec {
			if k != "time" && k != "level" && k != "msg" {
				attrs = append(attrs, k, v)
			}
		}
		s.log.Log(context.Background(), level, msg, attrs...)
	}
}

// lastWords keeps the first lines an agent wrote that were not log lines:
// a Go panic starts "panic:" and names the goroutine and frames after it.
type lastWords struct {
	mu    sync.Mutex
	lines []string
}

func (l *lastWords) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) < 40 {
		l.lines = append(l.lines, line)
	}
}

// summary is the exit status with the panic message and the first frame
// of the panicking goroutine outside the runtime, if any.
func (l *lastWords) summary(waitErr error) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	status := "exited normally"
	if waitErr != nil {
		status = waitErr.Error()
	}
	var parts []string
	for i, line := range l.lines {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "panic:") || strings.HasPrefix(t, "fatal error:"):
			parts = append(parts, t)
			for _, f := range l.lines[i+1:] {
				f = strings.TrimSpace(f)
				if strings.Contains(f, "(") && !strings.HasPrefix(f, "runtime.") && !strings.HasPrefix(f, "panic(") &&
					!strings.HasPrefix(f, "goroutine ") && !strings.HasPrefix(f, "reflect.") && !strings.HasPrefix(f, "[") {
					parts = append(parts, "in "+f)
					break
				}
			}
			return status + ": " + strings.Join(parts, " ")
		case strings.HasPrefix(t, "unreadable answer:"):
			parts = append(parts, t)
		}
	}
	if len(parts) == 0 && len(l.lines) > 0 {
		parts = append(parts, strings.TrimSpace(l.lines[len(l.lines)-1]))
	}
	if len(parts) > 0 {
		return status + ": " + strings.Join(parts, "; ")
	}
	return status
}

// Stats are the agent's protocol statistics; Reconnects also counts agent
// restarts.
func (s *Source) Stats() protocols.Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	st := s.stats
	st.Reconnects += s.restarts
	return st
}

// Close stops the agent: it closes its device connection and exits.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	ag := s.ag
	s.ag = nil
	if ag == nil {
		return nil
	}
	_ = writeFrame(ag.stdin, request{Close: true})
	ag.stop(s.cfg.Grace)
	return nil
}

// stop closes the agent's input (it exits at the end of its input) and
// waits for it to end, killing it after grace.
func (ag *agent) stop(grace time.Duration) {
	_ = ag.stdin.Close()
	select {
	case <-ag.exited:
	case <-time.After(grace):
		_ = ag.cmd.Process.Kill()
		<-ag.exited
	}
}
