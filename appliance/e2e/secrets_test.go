package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/internal/faultdev"
	"github.com/wotchain/wotchain/internal/testserver"
	"github.com/wotchain/wotchain/protocols/opcua/opcuasim"
)

func randomSecret(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

// TestKeyFilesWithOpenPermissionsRefused makes each private key or secret
// file of the appliance readable by group or others, in turn, and starts
// the appliance: it must exit non-zero before polling, naming the file and
// the fix (chmod 600), and leave the file as it was.
func TestKeyFilesWithOpenPermissionsRefused(t *testing.T) {
	keygen := func(t *testing.T, path string, args ...string) {
		t.Helper()
		if out, code := runCLI(t, append([]string{"keygen", "--out", path}, args...)...); code != 0 {
			t.Fatalf("keygen %s: exit %d\n%s", path, code, out)
		}
	}
	secretFile := func(t *testing.T, path string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(randomSecret(t, "s-")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name     string
		file     string // relative to the test directory
		mode     os.FileMode
		create   func(t *testing.T, path string)
		sections string
		devices  []string
	}{
		{name: "signing key 0644", file: "data/keys/appliance.key", mode: 0o644, create: func(t *testing.T, p string) { keygen(t, p) }},
		{name: "signing key 0640", file: "data/keys/appliance.key", mode: 0o640, create: func(t *testing.T, p string) { keygen(t, p) }},
		{name: "signing key 0604", file: "data/keys/appliance.key", mode: 0o604, create: func(t *testing.T, p string) { keygen(t, p) }},
		{name: "owner key 0644", file: "data/keys/owner.hpke", mode: 0o644, create: func(t *testing.T, p string) { keygen(t, p, "--kind", "recipient") }},
		{name: "S3 secret key file 0644", file: "s3.secret", mode: 0o644, create: secretFile, sections: `storage:
  kind: s3
  s3:
    endpoint: 127.0.0.1:9
    bucket: b
    tls: false
    access_key_env: HOME
    secret_key_file: s3.secret
`},
		{name: "OPC UA password file 0644", file: "opcua.password", mode: 0o644, create: secretFile, devices: []string{`  - id: ua-user
    protocol: opcua
    opcua:
      endpoint: opc.tcp://127.0.0.1:9
      username: operator
      password_file: ../opcua.password
      points:
        - {name: t, node_id: "ns=1;s=Boiler.Temperature"}
`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, c.file)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			c.create(t, path)
			if err := os.Chmod(path, c.mode); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(path)
			// The password file is named relative to the configuration,
			// which lives in dir/conf so that "../" stays inside dir.
			confDir := filepath.Join(dir, "conf")
			if err := os.Mkdir(confDir, 0o700); err != nil {
				t.Fatal(err)
			}
			cfgPath, _ := writeApplianceConfig(t, confDir, applianceConfig{sections: strings.ReplaceAll(c.sections, "s3.secret", "../s3.secret"), devices: c.devices})
			data, _ := os.ReadFile(cfgPath)
			data = []byte(strings.Replace(string(data), "data_dir: data", "data_dir: ../data", 1))
			if err := os.WriteFile(cfgPath, data, 0o644); err != nil {
				t.Fatal(err)
			}

			out, code := runCLI(t, "run", "--config", cfgPath)
			t.Logf("exit %d: %s", code, strings.TrimSpace(lastLine(out)))
			if code == 0 {
				t.Fatalf("the appliance ran with %s mode %04o\n%s", c.file, c.mode, out)
			}
			if !strings.Contains(out, path) || !strings.Contains(out, "chmod 600") {
				t.Errorf("the refusal does not name %s and chmod 600:\n%s", path, out)
			}
			if strings.Contains(out, "appliance running") {
				t.Errorf("the appliance started polling before refusing the key:\n%s", out)
			}
			st, err := os.Stat(path)
			after, _ := os.ReadFile(path)
			if err != nil || st.Mode().Perm() != c.mode || string(after) != string(before) {
				t.Errorf("%s changed: mode %v, same content %v (%v)", c.file, st.Mode().Perm(), string(after) == string(before), err)
			}
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestSecretsNeverLogged runs the appliance against MinIO with its S3
// secret key and an OPC UA device's password in environment variables and
// the log at debug level, in JSON and in text, through a storage outage and
// with a wrong secret key; neither secret may appear in any output of the
// appliance or its commands, nor in any file it writes.
func TestSecretsNeverLogged(t *testing.T) {
	m := testserver.StartMinIO(t)
	uaPassword := randomSecret(t, "opcua-password-")
	wrongSecret := randomSecret(t, "s3-wrong-secret-")
	t.Setenv("WOTCHAIN_TEST_S3_ACCESS", m.AccessKey)
	t.Setenv("WOTCHAIN_TEST_S3_SECRET", m.SecretKey)
	t.Setenv("WOTCHAIN_TEST_OPCUA_PASSWORD", uaPassword)
	secrets := []string{m.SecretKey, uaPassword, wrongSecret}

	// An OPC UA server that only takes anonymous sessions: the device with a
	// password fails every connect, and its errors are logged.
	ua, err := opcuasim.Start(t.Context(), "127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	silent, err := faultdev.ListenTCP(t.Context(), "", faultdev.Silent)
	if err != nil {
		t.Fatal(err)
	}
	storage := fmt.Sprintf(`storage:
  kind: s3
  s3:
    endpoint: %s
    bucket: wotchain-secrets
    tls: false
    access_key_env: WOTCHAIN_TEST_S3_ACCESS
    secret_key_env: WOTCHAIN_TEST_S3_SECRET
    create_bucket: true
`, m.Endpoint)
	device := func(id, endpoint string) string {
		return fmt.Sprintf(`  - id: %s
    protocol: opcua
    interval: 200ms
    timeout: 500ms
    opcua:
      endpoint: %s
      username: operator
      password_env: WOTCHAIN_TEST_OPCUA_PASSWORD
      max_reconnect_delay: 1s
      points:
        - {name: temperature, node_id: "ns=1;s=Boiler.Temperature"}
`, id, endpoint)
	}
	dir := t.TempDir()
	var outputs []string
	check := func(what, text string) {
		t.Helper()
		outputs = append(outputs, what)
		for _, s := range secrets {
			if strings.Contains(text, s) {
				i := strings.Index(text, s)
				t.Errorf("%s contains a secret: ...%s...", what, text[max(0, i-200):min(len(text), i+len(s)+50)])
			}
		}
	}
	cfgPath, _ := writeApplianceConfig(t, dir, applianceConfig{sections: storage,
		devices: []string{device("ua-user", ua.Endpoint()), device("ua-user-silent", "opc.tcp://"+silent.Addr())}})

	out, code := runCLI(t, "check", "--config", cfgPath)
	if code != 0 {
		t.Fatalf("check: exit %d\n%s", code, out)
	}
	check("wotchain check", out)

	// JSON at debug: blocks uploaded, then a storage outage, then back.
	p := start(t, cfgPath)
	p.waitFor(t, "two anchored blocks", 60*time.Second, func(_ uint64, anchored int) bool { return anchored >= 2 })
	m.Stop(t)
	p.waitFor(t, "failed uploads", 30*time.Second, func(uint64, int) bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.failures >= 2
	})
	m.Restart(t)
	_, anchored := p.state()
	p.waitFor(t, "uploads after the outage", 60*time.Second, func(_ uint64, a int) bool { return a > anchored })
	p.stop(t)
	p.mu.Lock()
	check("run, JSON debug log with an outage", strings.Join(p.logs, "\n"))
	nlines, failures := len(p.logs), p.failures
	p.mu.Unlock()

	out, code = runCLI(t, "verify", "--config", cfgPath, "--seq", "1")
	if code != 0 {
		t.Fatalf("verify: exit %d\n%s", code, out)
	}
	check("wotchain verify", out)

	// Text at debug, with a secret key the server refuses.
	data, _ := os.ReadFile(cfgPath)
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(string(data), "format: json", "format: text", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WOTCHAIN_TEST_S3_SECRET", wrongSecret)
	out, code = runCLI(t, "run", "--config", cfgPath) // refused at start-up: the bucket check fails
	if code == 0 {
		t.Fatalf("the appliance ran with a wrong S3 secret key\n%s", out)
	}
	check("run, text debug log with a wrong secret key", out)

	// Nothing the appliance wrote holds a secret either.
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		check(path, string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("no secret in %d outputs and files (JSON run: %d log lines, %d failed uploads; wrong-key run: %s)",
		len(outputs), nlines, failures, strings.TrimSpace(lastLine(out)))
}
