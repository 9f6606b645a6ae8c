package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wotchain/wotchain/appliance/httpauth"
)

const userTestConfig = `appliance:
  id: a-1
  data_dir: data
devices:
  - id: press-1
    protocol: modbus
    modbus:
      url: tcp://127.0.0.1:502
      points:
        - {name: t, register: holding, address: 0, type: float32}
`

func writeTestConfig(t *testing.T, extra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "a.yaml")
	if err := os.WriteFile(path, []byte(userTestConfig+extra), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func userCmd(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := cmdUser(args, userIO{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut})
	return out.String(), errOut.String(), err
}

// `wotchain user` manages the users file with the password on stdin (as
// CI and scripts give it): 0600, argon2id, tokens shown once and stored
// hashed.
func TestUserCommands(t *testing.T) {
	cfg := writeTestConfig(t, "http:\n  auth: {}\n")
	file := filepath.Join(filepath.Dir(cfg), "data", "http", "users")
	if _, _, err := userCmd(t, "olga-password\n", "add", "--config", cfg, "olga", "--role", "admin"); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("users file: %v %v", st, err)
	}
	if _, _, err := userCmd(t, "olga-password\n", "add", "--config", cfg, "olga"); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("adding olga twice: %v", err)
	}
	if _, _, err := userCmd(t, "short\n", "add", "--config", cfg, "victor"); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Fatalf("short password: %v", err)
	}
	if _, _, err := userCmd(t, "", "add", "--config", cfg, "victor"); err == nil {
		t.Fatal("no password on stdin accepted")
	}
	if _, _, err := userCmd(t, "x\n", "add", "--config", cfg, "victor", "--role", "root"); err == nil || !strings.Contains(err.Error(), "unknown role") {
		t.Fatalf("bad role: %v", err)
	}
	tok, _, err := userCmd(t, "", "token", "--config", cfg, "prometheus")
	if err != nil || !strings.HasPrefix(tok, "wct_") {
		t.Fatalf("token: %q %v", tok, err)
	}
	tok = strings.TrimSpace(tok)
	if _, _, err := userCmd(t, "new-olga-password", "passwd", "--config", cfg, "olga"); err != nil {
		t.Fatal(err)
	}
	users, err := httpauth.OpenUsers(file)
	if err != nil {
		t.Fatal(err)
	}
	if u, ok, _ := users.Password("olga", "new-olga-password"); !ok || u.Role != httpauth.Admin {
		t.Fatalf("olga after passwd: %v %+v", ok, u)
	}
	if _, ok, _ := users.Password("olga", "olga-password"); ok {
		t.Fatal("the old password still works")
	}
	if u, ok, _ := users.Token(tok); !ok || u.Name != "prometheus" || u.Role != httpauth.Viewer {
		t.Fatalf("token: %v %+v", ok, u)
	}
	data, _ := os.ReadFile(file)
	if strings.Contains(string(data), tok) || strings.Contains(string(data), "new-olga-password") {
		t.Fatal("a secret is stored in clear")
	}
	list, _, err := userCmd(t, "", "list", "--config", cfg)
	if err != nil || !strings.Contains(list, "olga\tadmin") || !strings.Contains(list, "prometheus\tviewer\tpassword=false\ttokens=1") {
		t.Fatalf("list: %q %v", list, err)
	}
	if _, _, err := userCmd(t, "", "remove", "--config", cfg, "olga"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := userCmd(t, "", "remove", "--config", cfg, "olga"); err == nil {
		t.Fatal("removing a missing user succeeded")
	}
	if _, ok, _ := users.Password("olga", "new-olga-password"); ok {
		t.Fatal("a removed user logs in")
	}
	// Without http.auth the users are written, with a reminder.
	open := writeTestConfig(t, "")
	if _, stderr, err := userCmd(t, "victor-password\n", "add", "--config", open, "victor"); err != nil || !strings.Contains(stderr, "no http.auth section") {
		t.Fatalf("without http.auth: %v %q", err, stderr)
	}
}

// check refuses an open non-loopback listen, naming the file, line and key;
// with TLS and users it describes the interface.
func TestCheckHTTP(t *testing.T) {
	open := writeTestConfig(t, "http:\n  listen: 0.0.0.0:8443\n")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"check", "--config", open}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	if want := open + ":12: http.listen: \"0.0.0.0:8443\" is not a loopback address"; !strings.Contains(errOut.String(), want) {
		t.Fatalf("stderr %q lacks %q", errOut.String(), want)
	}
	secure := writeTestConfig(t, "http:\n  listen: 0.0.0.0:8443\n  tls: {auto: true}\n  auth: {}\n")
	out.Reset()
	errOut.Reset()
	if code := run(context.Background(), []string{"check", "--config", secure}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "http: https://0.0.0.0:8443/ with 0 users") {
		t.Fatalf("check output %q", out.String())
	}
	missing := writeTestConfig(t, "http:\n  tls: {cert_file: none.pem, key_file: none.key}\n")
	errOut.Reset()
	if code := run(context.Background(), []string{"check", "--config", missing}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "none.pem") {
		t.Fatalf("missing certificate: exit %d, %s", code, errOut.String())
	}
}
