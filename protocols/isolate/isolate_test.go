package isolate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wotchain/wotchain/internal/testserver/launch"
	"github.com/wotchain/wotchain/protocols"
)

// The test binary is its own agent: with ISOLATE_TEST_AGENT set it serves
// a fake source whose behaviour the hello names.
func TestMain(m *testing.M) {
	if os.Getenv("ISOLATE_TEST_AGENT") != "" {
		err := Serve(context.Background(), os.Stdin, os.Stdout, func(hello []byte) (protocols.Source, error) {
			return &fakeSource{mode: string(hello)}, nil
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var when = time.Date(2026, 12, 6, 10, 0, 0, 123456789, time.UTC)

// everyValue is what the fake source answers: every value type, a Bad
// sample without value, and pushed and device timestamps.
var everyValue = []protocols.Sample{
	{Point: "f", Value: 85.3, Unit: "degC", Quality: protocols.Good},
	{Point: "f-max", Value: math.MaxFloat64},
	{Point: "i", Value: int64(math.MinInt64), Quality: protocols.Uncertain, Reason: "stale"},
	{Point: "b", Value: true, SourceTime: when},
	{Point: "s", Value: "Betrieb – ü", Received: when.Add(time.Millisecond)},
	{Point: "empty", Value: ""},
	{Point: "bad", Quality: protocols.Bad, Reason: "BadSensorFailure (0x808A0000)"},
}

type fakeSource struct {
	mode  string
	polls int
}

func (f *fakeSource) Poll(ctx context.Context) ([]protocols.Sample, error) {
	f.polls++
	slog.New(slog.NewJSONHandler(os.Stderr, nil)).Warn("fake poll", "n", f.polls)
	switch {
	case f.mode == "panic" && f.polls == 2:
		// In a goroutine of its own, as a library's reader would: no
		// recover in the agent could catch it.
		go func() { panic("reflect.MakeSlice: negative len") }()
		select {}
	case f.mode == "hang":
		time.Sleep(time.Hour) // ignores its deadline
	case f.mode == "exit" && f.polls == 2:
		os.Exit(3)
	case f.mode == "error":
		return nil, errors.New("device unreachable")
	case f.mode == "not-utf8":
		// A library's error quoting the device's bytes, and a value no
		// converter should have let through.
		return []protocols.Sample{{Point: "s", Value: "\xff", Unit: "\xfe"}, {Point: "r", Quality: protocols.Bad, Reason: "got \xff"}},
			fmt.Errorf("unexpected byte \xc3 from device")
	case f.mode == "noise" && f.polls == 2:
		os.Stdout.WriteString("not a frame, a stray print\n")
	}
	return everyValue, nil
}

func (f *fakeSource) Stats() protocols.Stats {
	return protocols.Stats{Connected: true, RequestsLastPoll: 2, RequestsTotal: uint64(2 * f.polls)}
}

func (f *fakeSource) Close() error { return nil }

func newSource(t *testing.T, mode string) (*Source, *launch.LogBuffer) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	l := &launch.LogBuffer{}
	s := New(Config{
		DeviceID: "dev-1",
		Command: func() *exec.Cmd {
			cmd := exec.Command(exe, "-test.run=^$")
			// GORACE: a race-enabled agent would otherwise sleep 1 s at exit.
			cmd.Env = append(os.Environ(), "ISOLATE_TEST_AGENT=1", "GORACE=atexit_sleep_ms=0")
			return cmd
		},
		Hello:      []byte(mode),
		Logger:     slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug})),
		MinBackoff: 100 * time.Millisecond,
		Grace:      500 * time.Millisecond,
	})
	t.Cleanup(func() { s.Close() })
	return s, l
}

func pollOnce(s *Source) ([]protocols.Sample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Poll(ctx)
}

func TestSamplesArriveExactly(t *testing.T) {
	s, l := newSource(t, "ok")
	for i := 0; i < 3; i++ {
		got, err := pollOnce(s)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(everyValue) {
			t.Fatalf("%d samples, want %d", len(got), len(everyValue))
		}
		for j, w := range everyValue {
			g := got[j]
			if g.Point != w.Point || g.Value != w.Value || g.Unit != w.Unit || g.Quality != w.Quality || g.Reason != w.Reason ||
				!g.SourceTime.Equal(w.SourceTime) || !g.Received.Equal(w.Received) || g.SourceTime.IsZero() != w.SourceTime.IsZero() {
				t.Fatalf("sample %d: got %#v, want %#v", j, g, w)
			}
		}
	}
	if st := s.Stats(); !st.Connected || st.RequestsTotal != 6 || st.Reconnects != 0 {
		t.Fatalf("stats %+v", st)
	}
	// The agent's JSON log lines are relogged at their level (by the
	// goroutine reading its standard error, so perhaps a moment later).
	deadline := time.Now().Add(5 * time.Second)
	for out := l.String(); !strings.Contains(out, "level=WARN msg=\"fake poll\"") || !strings.Contains(out, "agent=dev-1"); out = l.String() {
		if time.Now().After(deadline) {
			t.Fatalf("agent logs not relayed:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDeviceErrorPassedOn(t *testing.T) {
	s, _ := newSource(t, "error")
	if _, err := pollOnce(s); err == nil || err.Error() != "device unreachable" {
		t.Fatalf("err %v, want the device's error as it is", err)
	}
	if _, err := pollOnce(s); err == nil || err.Error() != "device unreachable" {
		t.Fatalf("second poll: %v (an error from the device is not an agent failure)", err)
	}
}

// A panic in a goroutine of the agent ends the agent, not the appliance:
// the poll fails naming the panic, polls fail fast during the backoff,
// then a new agent answers.
func TestPanicEndsOnlyTheAgent(t *testing.T) {
	s, l := newSource(t, "panic")
	if _, err := pollOnce(s); err != nil {
		t.Fatal(err)
	}
	pid := s.ag.cmd.Process.Pid
	_, err := pollOnce(s)
	if err == nil || !strings.Contains(err.Error(), "panic: reflect.MakeSlice: negative len") || !strings.Contains(err.Error(), "exit status 2") {
		t.Fatalf("poll during the panic: %v", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("the crashed agent %d is still there (%v)", pid, err)
	}
	if _, err := pollOnce(s); err == nil || !strings.Contains(err.Error(), "restarts in") {
		t.Fatalf("poll during the backoff: %v", err)
	}
	time.Sleep(150 * time.Millisecond)
	got, err := pollOnce(s)
	if err != nil || len(got) != len(everyValue) {
		t.Fatalf("after the backoff: %d samples, %v", len(got), err)
	}
	if st := s.Stats(); st.Reconnects != 1 {
		t.Fatalf("stats %+v: the restart should count as a reconnect", st)
	}
	if out := l.String(); !strings.Contains(out, "protocol agent failed") || !strings.Contains(out, "protocol agent started again") {
		t.Fatalf("logs:\n%s", out)
	}
}

func TestAgentExitAndGarbageRecovered(t *testing.T) {
	for _, mode := range []string{"exit", "noise"} {
		t.Run(mode, func(t *testing.T) {
			s, _ := newSource(t, mode)
			if _, err := pollOnce(s); err != nil {
				t.Fatal(err)
			}
			_, err := pollOnce(s)
			want := map[string]string{"exit": "exit status 3", "noise": "unreadable answer"}[mode]
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("poll: %v, want %q", err, want)
			}
			time.Sleep(150 * time.Millisecond)
			if _, err := pollOnce(s); err != nil {
				t.Fatalf("after the backoff: %v", err)
			}
		})
	}
}

// An agent that ignores its deadline is killed after the grace period, and
// the poll returns then rather than never.
func TestHungAgentKilled(t *testing.T) {
	s, _ := newSource(t, "hang")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := s.Poll(ctx); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("poll: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("poll returned after %s", took)
	}
	if s.ag != nil {
		t.Fatal("the hung agent is still attached")
	}
}

func TestCloseEndsTheAgent(t *testing.T) {
	s, _ := newSource(t, "ok")
	if _, err := pollOnce(s); err != nil {
		t.Fatal(err)
	}
	ag := s.ag
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ag.exited:
	default:
		t.Fatal("Close returned before the agent exited")
	}
	if !strings.Contains(ag.why, "exited normally") {
		t.Fatalf("agent ended with %q, want a clean exit", ag.why)
	}
	if _, err := pollOnce(s); !errors.Is(err, ErrClosed) {
		t.Fatalf("poll after Close: %v", err)
	}
}

// Text that is not UTF-8 cannot travel as CBOR text: errors and labels
// arrive repaired, a string value arrives as a Bad sample, and the agent
// is not taken for broken.
func TestTextNotUTF8Travels(t *testing.T) {
	s, _ := newSource(t, "not-utf8")
	for i := 0; i < 2; i++ {
		got, err := pollOnce(s)
		if err == nil || err.Error() != "unexpected byte \uFFFD from device" {
			t.Fatalf("poll %d: %v, want the device's error with its byte replaced", i, err)
		}
		if len(got) != 2 || got[0].Value != nil || got[0].Quality != protocols.Bad || !strings.Contains(got[0].Reason, "not valid UTF-8") ||
			got[0].Unit != "\uFFFD" || got[1].Reason != "got \uFFFD" {
			t.Fatalf("poll %d: samples %#v", i, got)
		}
	}
	if st := s.Stats(); st.Reconnects != 0 {
		t.Fatalf("the agent was restarted: %+v", st)
	}
}
