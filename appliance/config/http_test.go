package config

import (
	"testing"
	"time"
)

// HTTP beyond loopback needs both TLS and authentication; the refusal
// names the file, the line and http.listen.
func TestHTTPListenBeyondLoopback(t *testing.T) {
	for _, c := range []struct {
		name, http string
		want       []string // nil: accepted
	}{
		{"loopback, open (the demo)", "http:\n  listen: 127.0.0.1:8080\n", nil},
		{"localhost, open", "http:\n  listen: localhost:8080\n", nil},
		{"ipv6 loopback, open", "http:\n  listen: \"[::1]:8080\"\n", nil},
		{"every address, open", "http:\n  listen: 0.0.0.0:8443\n", []string{"a.yaml:12:", "http.listen", `"0.0.0.0:8443" is not a loopback address`, "needs http.tls and http.auth"}},
		{"empty host, open", "http:\n  listen: \":8443\"\n", []string{"a.yaml:12:", "http.listen", "needs http.tls and http.auth"}},
		{"plant address, tls only", "http:\n  listen: 10.0.0.5:8443\n  tls: {auto: true}\n", []string{"a.yaml:12:", "http.listen", "needs http.auth", "!http.tls and"}},
		{"plant address, auth only", "http:\n  listen: 10.0.0.5:8443\n  auth: {}\n", []string{"a.yaml:12:", "http.listen", "needs http.tls"}},
		{"plant address, tls and auth", "http:\n  listen: 10.0.0.5:8443\n  tls: {auto: true}\n  auth: {}\n", nil},
		{"disabled, open", "http:\n  enabled: false\n  listen: 0.0.0.0:8443\n", nil},
		{"tls: neither", "http:\n  tls: {}\n", []string{"a.yaml:12:", "http.tls: give auto: true"}},
		{"tls: both", "http:\n  tls: {auto: true, cert_file: c.pem, key_file: k.pem}\n", []string{"a.yaml:12:", "http.tls", "not both"}},
		{"tls: cert without key", "http:\n  tls: {cert_file: c.pem}\n", []string{"a.yaml:12:", "http.tls"}},
		{"auth: short session", "http:\n  auth: {session_ttl: 10s}\n", []string{"a.yaml:12:", "http.auth.session_ttl"}},
		{"auth: unknown key", "http:\n  auth: {users: u}\n", []string{"a.yaml:12:", "unknown key users"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.want != nil {
				parseFails(t, valid+c.http, c.want)
			} else if _, err := Parse("a.yaml", []byte(valid+c.http)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestHTTPAuthDefaults(t *testing.T) {
	cfg, err := Parse("/etc/wotchain/a.yaml", []byte(valid+"http:\n  listen: 0.0.0.0:8443\n  tls: {cert_file: tls/c.pem, key_file: tls/k.pem}\n  auth: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.HTTP.Auth
	if got := cfg.Resolve(a.UsersFile); got != "/etc/wotchain/data/http/users" || got != cfg.UsersFile() {
		t.Errorf("users file %s (UsersFile %s)", got, cfg.UsersFile())
	}
	if got := cfg.Resolve(a.AuditLog); got != "/etc/wotchain/data/http/audit.jsonl" {
		t.Errorf("audit log %s", got)
	}
	if a.SessionTTL.D() != 8*time.Hour {
		t.Errorf("session ttl %v", a.SessionTTL.D())
	}
	// Without http.auth, `wotchain user` still knows where the file goes.
	open, err := Parse("/etc/wotchain/a.yaml", []byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	if open.HTTP.Auth != nil || open.UsersFile() != "/etc/wotchain/data/http/users" {
		t.Errorf("open config: auth %+v, users file %s", open.HTTP.Auth, open.UsersFile())
	}
}
