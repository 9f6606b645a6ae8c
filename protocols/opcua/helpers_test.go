package opcua_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/wotchain/wotchain/internal/testserver"
	"github.com/wotchain/wotchain/protocols"
	"github.com/wotchain/wotchain/protocols/opcua"
	"github.com/wotchain/wotchain/protocols/opcua/opcuasim"
)

// Short enough that a hung request cannot stall the suite, long enough for
// a loaded CI machine.
const testTimeout = 2 * time.Second

func startSim(t *testing.T, addr string, opts ...opcuasim.Option) *opcuasim.Sim {
	t.Helper()
	// The sim's goroutines may log after the test ends, so they must not use
	// t's output.
	return testserver.Started(t, "sim", func() (*opcuasim.Sim, error) {
		return opcuasim.Start(t.Context(), addr, slog.New(slog.DiscardHandler), opts...)
	})
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newSourceCfg starts a Source with state under a fresh temporary
// directory unless stateDir is given.
func newSourceCfg(t *testing.T, cfg opcua.Config, stateDir string) *opcua.Source {
	t.Helper()
	if stateDir == "" {
		stateDir = t.TempDir()
	}
	src, err := opcua.New(cfg, protocols.Options{
		DeviceID: "boiler-1",
		Timeout:  testTimeout,
		Logger:   testLogger(t),
		StateDir: stateDir,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

func newSource(t *testing.T, endpoint string, points []opcua.Point) *opcua.Source {
	t.Helper()
	return newSourceCfg(t, opcua.Config{Endpoint: endpoint, Points: points}, "")
}

// pollUntilOK polls until a Poll succeeds (a reconnect may first wait out
// the backoff) and returns its samples.
func pollUntilOK(t *testing.T, src *opcua.Source, d time.Duration) []protocols.Sample {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		samples, err := src.Poll(t.Context())
		if err == nil {
			return samples
		}
		if time.Now().After(deadline) {
			t.Fatalf("no successful Poll within %v; last error: %v", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// byPoint groups samples by point, keeping their order.
func byPoint(samples []protocols.Sample) map[string][]protocols.Sample {
	m := make(map[string][]protocols.Sample)
	for _, s := range samples {
		m[s.Point] = append(m[s.Point], s)
	}
	return m
}

func dur(d time.Duration) *opcua.Duration {
	v := opcua.Duration(d)
	return &v
}
