package testserver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// MinIO is a running MinIO server.
type MinIO struct {
	Endpoint  string // 127.0.0.1:port
	AccessKey string
	SecretKey string
	Dir       string // data directory
	bin       string
	proc      *Proc
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
	m := &MinIO{
		Endpoint:  fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
		AccessKey: "wotchain-test",
		SecretKey: "wotchain-test-secret",
		Dir:       t.TempDir(),
	}
	m.bin = bin
	m.start(t)
	return m
}

func (m *MinIO) start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(m.bin, "server", "--quiet", "--address", m.Endpoint,
		"--console-address", fmt.Sprintf("127.0.0.1:%d", FreePort(t)), m.Dir)
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+m.AccessKey, "MINIO_ROOT_PASSWORD="+m.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	m.proc = Command(t, cmd)
	WaitHTTP(t, "http://"+m.Endpoint+"/minio/health/live", 30*time.Second)
}

// Stop kills the server (an outage); Restart brings it back on the same
// address and data.
func (m *MinIO) Stop(t testing.TB) {
	t.Helper()
	m.proc.Kill()
}

// Restart starts the server again on the same address and data directory.
func (m *MinIO) Restart(t testing.TB) {
	t.Helper()
	m.start(t)
}
