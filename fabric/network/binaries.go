package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Fabric is built from this module version: the main branch of 2023-04-05
// (after v2.5.0), the newest snapshot that resolves through the module proxy
// here with plain `go build`. It is never added to the project's go.mod.
const (
	FabricModule  = "github.com/hyperledger/fabric"
	FabricVersion = "v1.4.0-rc1.0.20230405174026-695dd57e01c2"
)

// EnvFabricBin names a directory of prebuilt Fabric binaries to use instead
// of building them.
const EnvFabricBin = "WOTCHAIN_FABRIC_BIN"

// Tools are the Fabric commands the network needs.
var Tools = []string{"peer", "orderer", "configtxgen", "cryptogen", "osnadmin"}

// Binaries locates Fabric's commands and its sample configuration.
type Binaries struct {
	Dir          string // holds the commands in Tools
	SampleConfig string // Fabric's sampleconfig/ (core.yaml, orderer.yaml)
}

// Path returns the path of a Fabric command.
func (b *Binaries) Path(tool string) string { return filepath.Join(b.Dir, tool) }

// DefaultCacheDir is $XDG_CACHE_HOME/wotchain, else ~/.cache/wotchain.
func DefaultCacheDir() (string, error) {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "wotchain"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: set XDG_CACHE_HOME or HOME: %w", err)
	}
	return filepath.Join(home, ".cache", "wotchain"), nil
}

// EnsureBinaries returns Fabric's binaries, building them on first use into
// cacheDir ("" = DefaultCacheDir) from a throwaway module that requires
// FabricModule@FabricVersion, and copying the module's sampleconfig/ next to
// them. A build already done for FabricVersion is reused. When
// WOTCHAIN_FABRIC_BIN is set, its binaries are used as they are.
// Concurrent callers sharing cacheDir wait for one build.
func EnsureBinaries(ctx context.Context, cacheDir string) (*Binaries, error) {
	log := slog.Default().With("component", "fabric-binaries")
	if cacheDir == "" {
		d, err := DefaultCacheDir()
		if err != nil {
			return nil, err
		}
		cacheDir = d
	}
	root := filepath.Join(cacheDir, "fabric", FabricVersion)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("fabric cache: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(root, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	if dir := os.Getenv(EnvFabricBin); dir != "" {
		return prebuilt(ctx, dir, root)
	}

	b := &Binaries{Dir: filepath.Join(root, "bin"), SampleConfig: filepath.Join(root, "config")}
	stamp := filepath.Join(root, ".built")
	if v, err := os.ReadFile(stamp); err == nil && strings.TrimSpace(string(v)) == FabricVersion && b.complete() {
		return b, nil
	}

	start := time.Now()
	log.Info("building Fabric binaries (first use; about 1-2 minutes)", "version", FabricVersion, "cache", root)
	src := filepath.Join(root, "src")
	if err := writeThrowawayModule(src); err != nil {
		return nil, err
	}
	var pkgs []string
	for _, t := range Tools {
		pkgs = append(pkgs, FabricModule+"/cmd/"+t+"@"+FabricVersion)
	}
	// `go get` of the command packages records exactly the sums they need
	// (a full `go mod tidy` would also fetch every test dependency).
	if _, err := goCmd(ctx, src, append([]string{"get"}, pkgs...)...); err != nil {
		return nil, fmt.Errorf("fetch Fabric %s: %w", FabricVersion, err)
	}
	tmpBin := filepath.Join(root, "bin.tmp")
	if err := os.RemoveAll(tmpBin); err != nil {
		return nil, err
	}
	args := []string{"build", "-o", tmpBin + string(os.PathSeparator)}
	for _, t := range Tools {
		args = append(args, FabricModule+"/cmd/"+t)
	}
	if _, err := goCmd(ctx, src, args...); err != nil {
		return nil, fmt.Errorf("build Fabric %s: %w", FabricVersion, err)
	}
	moduleDir, err := fabricModuleDir(ctx, src)
	if err != nil {
		return nil, err
	}
	if err := replaceDir(b.SampleConfig, func(dst string) error {
		return copyTree(filepath.Join(moduleDir, "sampleconfig"), dst)
	}); err != nil {
		return nil, fmt.Errorf("copy Fabric sampleconfig: %w", err)
	}
	if err := os.RemoveAll(b.Dir); err != nil {
		return nil, err
	}
	if err := os.Rename(tmpBin, b.Dir); err != nil {
		return nil, fmt.Errorf("install Fabric binaries: %w", err)
	}
	if err := os.WriteFile(stamp, []byte(FabricVersion+"\n"), 0o644); err != nil {
		return nil, err
	}
	log.Info("Fabric binaries built", "dir", b.Dir, "took", time.Since(start).Round(time.Second))
	return b, nil
}

// prebuilt uses WOTCHAIN_FABRIC_BIN. Its sample configuration comes from a
// config/ directory beside or inside it, else from the module cache.
func prebuilt(ctx context.Context, dir, root string) (*Binaries, error) {
	b := &Binaries{Dir: dir}
	if !b.complete() {
		return nil, fmt.Errorf("%s=%s does not hold all of %v", EnvFabricBin, dir, Tools)
	}
	for _, c := range []string{filepath.Join(dir, "config"), filepath.Join(dir, "..", "config"), filepath.Join(root, "config")} {
		if fileExists(filepath.Join(c, "core.yaml")) && fileExists(filepath.Join(c, "orderer.yaml")) {
			b.SampleConfig = c
			return b, nil
		}
	}
	src := filepath.Join(root, "src")
	if err := writeThrowawayModule(src); err != nil {
		return nil, err
	}
	if _, err := goCmd(ctx, src, "get", FabricModule+"@"+FabricVersion); err != nil {
		return nil, fmt.Errorf("fetch Fabric %s for its sampleconfig: %w", FabricVersion, err)
	}
	moduleDir, err := fabricModuleDir(ctx, src)
	if err != nil {
		return nil, err
	}
	b.SampleConfig = filepath.Join(root, "config")
	if err := replaceDir(b.SampleConfig, func(dst string) error {
		return copyTree(filepath.Join(moduleDir, "sampleconfig"), dst)
	}); err != nil {
		return nil, fmt.Errorf("copy Fabric sampleconfig: %w", err)
	}
	return b, nil
}

func (b *Binaries) complete() bool {
	for _, t := range Tools {
		if st, err := os.Stat(b.Path(t)); err != nil || st.Mode()&0o111 == 0 {
			return false
		}
	}
	return b.SampleConfig == "" || fileExists(filepath.Join(b.SampleConfig, "core.yaml"))
}

// writeThrowawayModule creates the module that requires Fabric. It lives in
// the cache, so Fabric's dependencies never reach the project's go.mod.
func writeThrowawayModule(src string) error {
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	gomod := filepath.Join(src, "go.mod")
	if fileExists(gomod) {
		return nil
	}
	return os.WriteFile(gomod, []byte("// Throwaway module that builds Fabric's commands for WoTChain's local network.\nmodule wotchain.local/fabricbin\n\ngo 1.22\n"), 0o644)
}

func fabricModuleDir(ctx context.Context, src string) (string, error) {
	out, err := goCmd(ctx, src, "list", "-m", "-json", FabricModule)
	if err != nil {
		return "", fmt.Errorf("locate Fabric module: %w", err)
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		return "", fmt.Errorf("locate Fabric module: unexpected go list output %q", out)
	}
	return m.Dir, nil
}

// goCmd runs the go command in dir, isolated from any enclosing workspace.
func goCmd(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	// -buildvcs=false: the cache may sit inside a repository (e.g. CI setting
	// XDG_CACHE_HOME=$PWD/.cache) whose VCS state is irrelevant here.
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod -buildvcs=false")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, tail(stderr.String(), 4000))
	}
	return []byte(stdout.String()), nil
}

// lockFile takes an exclusive flock, waiting until ctx is done.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for %s: %w", path, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// replaceDir fills a fresh temporary directory and swaps it in for dst.
func replaceDir(dst string, fill func(tmp string) error) error {
	tmp := dst + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := fill(tmp); err != nil {
		return err
	}
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// copyTree copies a directory of regular files, making the copies writable
// (the module cache is read-only).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		return copyFile(path, target, 0o644)
	})
}

func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// tail keeps the end of a long command output for error messages.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
