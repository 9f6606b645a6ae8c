// Package fabric starts a local Hyperledger Fabric network for tests. It is
// apart from package testserver because the launcher brings in Fabric's
// client libraries, which most tests do not need.
package fabric

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/wotchain/wotchain/fabric/netdesc"
	"github.com/wotchain/wotchain/fabric/network"
	"github.com/wotchain/wotchain/internal/testserver"
)

// StartNetwork brings a two-organisation network up in dir, with the
// project's chaincode deployed, and down again when the test ends. Fabric's
// binaries come from the cache (network.EnsureBinaries) and are built there
// on first use (1-2 minutes); when they cannot be built the test is
// skipped, or fails under CI=true (testserver.MissingServer). log receives
// the launcher's messages; EnsureBinaries and Down use slog's default.
func StartNetwork(ctx context.Context, t testing.TB, dir string, log *slog.Logger) *netdesc.Network {
	t.Helper()
	start := time.Now()
	bins, err := network.EnsureBinaries(ctx, "")
	if err != nil {
		testserver.MissingServer(t, "cannot build Fabric binaries: %v", err)
	}
	t.Logf("Fabric binaries ready in %s", time.Since(start).Round(time.Millisecond))

	// Registered before Up, so that a network that came up halfway is
	// stopped too.
	t.Cleanup(func() {
		if err := network.Down(context.Background(), dir, false); err != nil {
			t.Errorf("fabric network down: %v", err)
		}
	})
	upStart := time.Now()
	net, err := network.Up(ctx, network.Options{Dir: dir, Binaries: bins, StopWithCaller: true, Log: log})
	if err != nil {
		t.Fatalf("fabric network up: %v", err)
	}
	t.Logf("fabric network up in %s", time.Since(upStart).Round(time.Millisecond))
	return net
}
