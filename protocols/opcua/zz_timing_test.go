package opcua_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/wotchain/wotchain/protocols/opcua/opcuasim"
)

func TestZZTiming(t *testing.T) {
	t0 := time.Now()
	lg := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sim, err := opcuasim.Start(context.Background(), "127.0.0.1:0", lg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("start %v", time.Since(t0))
	t0 = time.Now()
	src := newSource(t, sim.Endpoint(), demoPoints(sim))
	poll(t, src)
	t.Logf("first poll %v", time.Since(t0))
	t0 = time.Now()
	sim.Close()
	t.Logf("sim close %v", time.Since(t0))
	t0 = time.Now()
	_, err = src.Poll(t.Context())
	t.Logf("failed poll %v %v", time.Since(t0), err)
	t0 = time.Now()
	_, err = src.Poll(t.Context())
	t.Logf("failed poll2 %v %v", time.Since(t0), err)
}
