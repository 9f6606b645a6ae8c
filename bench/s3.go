package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/wotchain/wotchain/bridge/objstore"
	"github.com/wotchain/wotchain/internal/testserver/launch"
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
	m, err := launch.StartMinIO(ctx, bin, dir, "wotchain-bench", "wotchain-bench-secret")
	if err != nil {
		return nil, nil, err
	}
	cfg := &objstore.S3Config{Endpoint: m.Endpoint, Bucket: "bench", Prefix: "blocks/", AccessKey: m.AccessKey, SecretKey: m.SecretKey}
	if err := WaitS3(ctx, *cfg, 30*time.Second); err != nil {
		m.Stop()
		return nil, nil, err
	}
	return cfg, m.Stop, nil
}
