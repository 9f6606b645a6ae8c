package network_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/fabric/network"
	"github.com/wotchain/wotchain/internal/testserver/fabric"
)

// On a real network: Up with Reuse over the network running in its
// directory (`make fabric-up`, then `make demo-fabric`) returns that
// network, says so, and leaves every process running.
func TestUpReusesRealNetwork(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "net")
	first := fabric.StartNetwork(ctx, t, dir, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})))

	var log bytes.Buffer
	again, err := network.Up(ctx, network.Options{Dir: dir, Reuse: true, Log: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatalf("up over the running network: %v\n%s", err, log.String())
	}
	if again.PackageID != first.PackageID || again.ChaincodeAddress != first.ChaincodeAddress || again.Orgs[0].Peer.Address != first.Orgs[0].Peer.Address {
		t.Fatalf("reused %+v, running %+v", again, first)
	}
	if !strings.Contains(log.String(), "reusing it") {
		t.Fatalf("Up did not say it reused the network:\n%s", log.String())
	}
	procs, err := network.Status(dir)
	if err != nil || len(procs) == 0 {
		t.Fatalf("status %+v, %v", procs, err)
	}
	for _, p := range procs {
		if !p.Running {
			t.Errorf("%s stopped", p.Name)
		}
	}
	if _, err := network.Up(ctx, network.Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("without Reuse: %v", err)
	}
}
