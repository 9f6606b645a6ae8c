package opcuasim

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"
)

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestStartRejectsNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "192.0.2.1:4840", "[::1]:0", "localhost:0", "127.0.0.1", "127.0.0.1:http"} {
		if s, err := Start(t.Context(), addr, quietLogger()); err == nil {
			_ = s.Close()
			t.Errorf("Start(%q) succeeded, want an error", addr)
		}
	}
}

func TestStartWithDoneContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Start(ctx, "127.0.0.1:0", quietLogger()); err == nil {
		t.Fatal("Start with a cancelled context succeeded")
	}
}

func TestContextEndCloses(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	s, err := Start(ctx, "127.0.0.1:0", quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		t.Fatal("sim still running 5 s after its context ended")
	}
	if err := s.Close(); err != nil { // idempotent
		t.Fatalf("second Close: %v", err)
	}
}

func current(t *testing.T, s *Sim, name string) any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vars[name].value
	if v == nil {
		return nil
	}
	return v.Value()
}

func TestTickIsDeterministic(t *testing.T) {
	s, err := Start(t.Context(), "127.0.0.1:0", quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })

	for i := 1; i <= 20; i++ {
		s.Tick()
		d := demoValues(i)
		if got := current(t, s, Temperature); got != d.temperature {
			t.Fatalf("tick %d: temperature %v, want %v", i, got, d.temperature)
		}
		if got := current(t, s, BurnerStarts); got != int32(i) {
			t.Fatalf("tick %d: burner starts %v, want %d", i, got, i)
		}
	}
	for _, tc := range []struct {
		step    int
		running bool
	}{{0, true}, {14, true}, {15, false}, {19, false}, {20, true}} {
		if got := demoValues(tc.step).running; got != tc.running {
			t.Errorf("step %d: running %v, want %v", tc.step, got, tc.running)
		}
	}
	for i := range 120 {
		d := demoValues(i)
		if d.temperature < 82 || d.temperature > 88 || d.pressure < 2.3 || d.pressure > 2.7 {
			t.Fatalf("step %d: values out of range: %+v", i, d)
		}
	}
}

func TestSetAndSetStatus(t *testing.T) {
	s, err := Start(t.Context(), "127.0.0.1:0", quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })

	s.Set(Mode, "manual")
	s.SetStatus(Mode, ua.StatusUncertainLastUsableValue)
	dv := s.valueFunc(Mode)()
	if dv.Value.Value() != "manual" || dv.Status != ua.StatusUncertainLastUsableValue {
		t.Fatalf("got %v / %v", dv.Value.Value(), dv.Status)
	}
	if !dv.Has(ua.DataValueSourceTimestamp) || dv.SourceTimestamp.IsZero() {
		t.Fatal("value carries no source timestamp")
	}

	s.Set(Mode, struct{}{}) // not variant-compatible: ignored
	s.Set("Boiler.Nope", 1) // unknown: ignored
	if got := current(t, s, Mode); got != "manual" {
		t.Fatalf("mode = %v after ignored sets, want manual", got)
	}

	s.Set(Mode, nil)
	if dv := s.valueFunc(Mode)(); dv.Has(ua.DataValueValue) {
		t.Fatalf("Set(nil) still serves a value: %v", dv.Value.Value())
	}

	// A test may replace the counter's type; Tick must cope, not panic.
	s.Set(BurnerStarts, "many")
	s.Tick()
	if got := current(t, s, BurnerStarts); got != int32(1) {
		t.Fatalf("burner starts = %v after tick, want 1", got)
	}
}

func TestRunTicksUntilClosed(t *testing.T) {
	s, err := Start(t.Context(), "127.0.0.1:0", quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Run(t.Context(), time.Millisecond); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for current(t, s, BurnerStarts) == int32(0) {
		if time.Now().After(deadline) {
			t.Fatal("Run did not tick")
		}
		time.Sleep(time.Millisecond)
	}
	_ = s.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Close")
	}
}
