package launch

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// MinIO is a running MinIO server.
type MinIO struct {
	Endpoint  string // 127.0.0.1:port
	AccessKey string
	SecretKey string
	Dir       string // data directory

	bin  string
	proc *Proc
	log  LogBuffer // every run's output, across restarts
}

// StartMinIO runs the MinIO server bin on a free port of 127.0.0.1 with its
// data in dir and the given root credentials, and waits until it is live
// (up to 30 s). MinIO answers that before it serves buckets; callers that
// need a bucket wait for it too.
func StartMinIO(ctx context.Context, bin, dir, accessKey, secretKey string) (*MinIO, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	m := &MinIO{Endpoint: fmt.Sprintf("127.0.0.1:%d", port), AccessKey: accessKey, SecretKey: secretKey, Dir: dir, bin: bin}
	return m, m.Restart(ctx)
}

// Restart starts the server again on the same address and data directory.
func (m *MinIO) Restart(ctx context.Context) error {
	console, err := FreePort()
	if err != nil {
		return err
	}
	cmd := exec.Command(m.bin, "server", "--quiet", "--address", m.Endpoint,
		"--console-address", fmt.Sprintf("127.0.0.1:%d", console), m.Dir)
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+m.AccessKey, "MINIO_ROOT_PASSWORD="+m.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	cmd.Stdout, cmd.Stderr = &m.log, &m.log
	if m.proc, err = Start(cmd); err != nil {
		return fmt.Errorf("minio: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// /live answers as soon as the process listens; /cluster only once the
	// object layer has write quorum. Waiting on /live let a test's first
	// request meet "Server not initialized yet" on a loaded machine.
	if err := m.proc.AwaitHTTP(ctx, "http://"+m.Endpoint+"/minio/health/cluster"); err != nil {
		m.proc.Kill()
		return fmt.Errorf("minio on %s did not come up: %w", m.Endpoint, err)
	}
	return nil
}

// Stop kills the server (an outage); Restart brings it back.
func (m *MinIO) Stop() {
	if m.proc != nil {
		m.proc.Kill()
	}
}

// Output is what the server printed, over all its runs.
func (m *MinIO) Output() string { return m.log.String() }
