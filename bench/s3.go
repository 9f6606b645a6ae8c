package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/wotchain/wotchain/bridge/objstore"
)

// WaitS3 connects to the bucket, creating it if needed, and retries while
// the server is still starting (MinIO answers its health check before it
// serves buckets: "Server not initialized yet").
func WaitS3(ctx context.Context, cfg objstore.S3Config, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cfg.CreateBucket = true
	for {
		_, err := objstore.NewS3(ctx, cfg)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("s3 %s not ready: %w", cfg.Endpoint, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// MinIOBinary is where scripts/build-minio caches the MinIO server, unless
// WOTCHAIN_MINIO_BIN names another; empty when neither exists.
func MinIOBinary() string {
	if p := os.Getenv("WOTCHAIN_MINIO_BIN"); p != "" {
		return p
	}
	cache := os.Getenv("WOTCHAIN_CACHE")
	if cache == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		cache = filepath.Join(base, "wotchain")
	}
	matches, _ := filepath.Glob(filepath.Join(cache, "minio", "*", "minio"))
	if len(matches) == 0 {
		return ""
	}
	return matches[len(matches)-1]
}

// startMinIO runs a MinIO server from bin on a free 127.0.0.1 port with
// its data under dir, and returns a bucket on it and a function that stops it.
func startMinIO(ctx context.Context, bin, dir string) (*objstore.S3Config, func(), error) {
	port := func() (int, error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port, nil
	}
	api, err := port()
	if err != nil {
		return nil, nil, err
	}
	console, err := port()
	if err != nil {
		return nil, nil, err
	}
	cfg := &objstore.S3Config{Endpoint: fmt.Sprintf("127.0.0.1:%d", api), Bucket: "bench", Prefix: "blocks/",
		AccessKey: "wotchain-bench", SecretKey: "wotchain-bench-secret"}
	cmd := exec.Command(bin, "server", "--quiet", "--address", cfg.Endpoint,
		"--console-address", fmt.Sprintf("127.0.0.1:%d", console), dir)
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+cfg.AccessKey, "MINIO_ROOT_PASSWORD="+cfg.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	// Dies with us, even on kill -9 of the benchmark.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start minio: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + cfg.Endpoint + "/minio/health/live")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			return nil, nil, fmt.Errorf("minio on %s did not come up", cfg.Endpoint)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := WaitS3(ctx, *cfg, 30*time.Second); err != nil {
		stop()
		return nil, nil, err
	}
	return cfg, stop, nil
}
