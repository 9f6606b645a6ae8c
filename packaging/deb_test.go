// Package packaging_test installs the Debian package on this machine and
// runs the installed binary as the service user. It changes the system
// (installs and then purges the package), so it runs only as root under
// CI=true or with WOTCHAIN_TEST_DEB=1.
package packaging_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func mode(t *testing.T, path string) (os.FileMode, string) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	u, err := user.LookupId(fmt.Sprint(st.Sys().(*syscall.Stat_t).Uid))
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm(), u.Username
}

func TestDebianPackageInstallsAndRuns(t *testing.T) {
	if os.Getenv("CI") != "true" && os.Getenv("WOTCHAIN_TEST_DEB") != "1" {
		t.Skip("skipping: installs a package system-wide; runs under CI=true or WOTCHAIN_TEST_DEB=1")
	}
	if os.Geteuid() != 0 {
		t.Fatal("installing the package needs root")
	}
	root, _ := filepath.Abs("..")
	begin := time.Now()
	run(t, root, "make", "deb")
	t.Logf("make deb: %s", time.Since(begin).Round(time.Millisecond))
	debs, _ := filepath.Glob(filepath.Join(root, "dist", "wotchain_*_amd64.deb"))
	if len(debs) != 1 {
		t.Fatalf("expected one package in dist/, found %v", debs)
	}
	run(t, root, "dpkg", "-i", debs[0])
	t.Cleanup(func() { exec.Command("dpkg", "--purge", "wotchain").Run() })

	// What the package installed, with the permissions the service relies on.
	if m, owner := mode(t, "/var/lib/wotchain"); m != 0o700 || owner != "wotchain" {
		t.Fatalf("/var/lib/wotchain is %04o %s, want 0700 wotchain", m, owner)
	}
	if m, _ := mode(t, "/etc/wotchain/wotchain.yaml"); m != 0o640 {
		t.Fatalf("/etc/wotchain/wotchain.yaml is %04o, want 0640", m)
	}
	// The partner's offline verifier, complete (its WebAssembly is a build output).
	for _, f := range []string{"index.html", "verify.js", "verify.css", "verify.wasm", "wasm_exec.js"} {
		if m, _ := mode(t, "/usr/share/wotchain/verify/"+f); m != 0o644 {
			t.Errorf("/usr/share/wotchain/verify/%s is %04o, want 0644", f, m)
		}
	}
	if m, _ := mode(t, "/usr/share/wotchain/grafana/wotchain.json"); m != 0o644 {
		t.Errorf("the Grafana dashboard is %04o, want 0644", m)
	}
	if out := run(t, "/", "/usr/bin/wotchain", "check", "--config", "/etc/wotchain/wotchain.yaml"); !strings.Contains(out, "OK") {
		t.Fatalf("the shipped configuration does not check: %s", out)
	}
	unit, err := os.ReadFile("/lib/systemd/system/wotchain.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"User=wotchain", "ProtectSystem=strict", "StateDirectory=wotchain", "NoNewPrivileges=yes", "ExecReload=/bin/kill -HUP"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %s", want)
		}
	}
	if p, err := exec.LookPath("systemd-analyze"); err == nil {
		if out, err := exec.Command(p, "verify", "/lib/systemd/system/wotchain.service").CombinedOutput(); err != nil {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	}

	// The installed binary, as the service user, runs the demo devices and anchors blocks.
	state := filepath.Join("/var/lib/wotchain", fmt.Sprintf("test-%d", time.Now().UnixNano()))
	t.Cleanup(func() { os.RemoveAll(state) })
	demo, err := os.ReadFile(filepath.Join(root, "configs", "demo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(demo), "data_dir: ../data/demo", "data_dir: "+state+"/data", 1)
	cfg = strings.Replace(cfg, "interval: 5s", "interval: 1s", 1)
	run(t, "/", "install", "-d", "-m", "0700", "-o", "wotchain", "-g", "wotchain", state)
	cfgPath := filepath.Join(state, "wotchain.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, "/", "chown", "wotchain:wotchain", cfgPath)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	svc, err := user.Lookup("wotchain")
	if err != nil {
		t.Fatal(err)
	}
	var uid, gid uint32
	fmt.Sscan(svc.Uid, &uid)
	fmt.Sscan(svc.Gid, &gid)
	cmd := exec.CommandContext(ctx, "/usr/bin/wotchain", "run", "--config", cfgPath)
	// Run as the service user directly (not through runuser, which would
	// not pass SIGINT on), so the clean stop is exercised too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}, Pdeathsig: syscall.SIGKILL}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	anchored := false
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "block anchored") {
			anchored = true
			break
		}
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	go func() {
		for sc.Scan() {
		}
	}()
	if err := cmd.Wait(); err != nil && ctx.Err() == nil {
		t.Errorf("installed binary exited with %v", err)
	}
	if !anchored {
		t.Fatal("the installed binary anchored no block")
	}
	t.Logf("installed binary ran and anchored; total %s", time.Since(begin).Round(time.Millisecond))
	if m, owner := mode(t, filepath.Join(state, "data", "keys", "appliance.key")); m != 0o600 || owner != "wotchain" {
		t.Fatalf("appliance key is %04o %s, want 0600 wotchain", m, owner)
	}
}
