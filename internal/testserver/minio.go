package testserver

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wotchain/wotchain/internal/testserver/launch"
)

// MinIO is a running MinIO server.
type MinIO struct {
	Endpoint  string // 127.0.0.1:port
	AccessKey string
	SecretKey string
	Dir       string // data directory
	srv       *launch.MinIO
}

// minioBinary finds the server built by scripts/build-minio.
func minioBinary(t testing.TB) string {
	if p := os.Getenv("WOTCHAIN_MINIO_BIN"); p != "" {
		return p
	}
	out, err := exec.Command("bash", filepath.Join(RepoRoot(t), "scripts", "build-minio")).Output()
	if err != nil {
		MissingServer(t, "MinIO could not be built by scripts/build-minio: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// StartMinIO starts a MinIO server on 127.0.0.1 with a fresh data
// directory and waits until it is live.
func StartMinIO(t testing.TB) *MinIO {
	t.Helper()
	bin := minioBinary(t)
	if _, err := os.Stat(bin); err != nil {
		MissingServer(t, "MinIO binary %s: %v", bin, err)
	}
	srv, err := launch.StartMinIO(context.Background(), bin, t.TempDir(), "wotchain-test", "wotchain-test-secret")
	if srv != nil {
		t.Cleanup(func() {
			srv.Stop()
			if t.Failed() {
				t.Logf("minio output:\n%s", srv.Output())
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return &MinIO{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Dir: srv.Dir, srv: srv}
}

// Stop kills the server (an outage); Restart brings it back on the same
// address and data.
func (m *MinIO) Stop(t testing.TB) {
	t.Helper()
	m.srv.Stop()
}

// Restart starts the server again on the same address and data directory.
func (m *MinIO) Restart(t testing.TB) {
	t.Helper()
	if err := m.srv.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
}
