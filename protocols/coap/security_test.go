package coap

import (
	"bytes"
	"strings"
	"testing"
)

func TestLoadPSK(t *testing.T) {
	const secret = "s3cret-Key"
	tests := []struct {
		name   string
		cfg    func(t *testing.T) Config
		want   []byte
		reason string // substring of the error when loading must fail
	}{
		{name: "file text, newline stripped", cfg: func(t *testing.T) Config {
			return Config{PSKKeyFile: writeSecret(t, secret+"\n", 0o600)}
		}, want: []byte(secret)},
		{name: "file hex", cfg: func(t *testing.T) Config {
			return Config{PSKKeyFile: writeSecret(t, "00ff10\r\n", 0o400), PSKKeyEncoding: "hex"}
		}, want: []byte{0x00, 0xff, 0x10}},
		{name: "env base64", cfg: func(t *testing.T) Config {
			t.Setenv("WOTCHAIN_TEST_PSK", "AP8Q")
			return Config{PSKKeyEnv: "WOTCHAIN_TEST_PSK", PSKKeyEncoding: "base64"}
		}, want: []byte{0x00, 0xff, 0x10}},
		{name: "env text kept verbatim", cfg: func(t *testing.T) Config {
			t.Setenv("WOTCHAIN_TEST_PSK", " spaced ")
			return Config{PSKKeyEnv: "WOTCHAIN_TEST_PSK"}
		}, want: []byte(" spaced ")},
		{name: "file readable by others", cfg: func(t *testing.T) Config {
			return Config{PSKKeyFile: writeSecret(t, secret, 0o644)}
		}, reason: "must not be accessible by group or others"},
		{name: "file missing", cfg: func(t *testing.T) Config {
			return Config{PSKKeyFile: "/nonexistent/coap.psk"}
		}, reason: "psk_key_file: stat /nonexistent/coap.psk"},
		{name: "env unset", cfg: func(t *testing.T) Config {
			return Config{PSKKeyEnv: "WOTCHAIN_TEST_PSK_UNSET"}
		}, reason: "environment variable WOTCHAIN_TEST_PSK_UNSET is not set"},
		{name: "env empty", cfg: func(t *testing.T) Config {
			t.Setenv("WOTCHAIN_TEST_PSK", "")
			return Config{PSKKeyEnv: "WOTCHAIN_TEST_PSK"}
		}, reason: "the key is empty"},
		{name: "bad hex", cfg: func(t *testing.T) Config {
			return Config{PSKKeyFile: writeSecret(t, secret, 0o600), PSKKeyEncoding: "hex"}
		}, reason: "not hexadecimal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg(t)
			key, err := cfg.loadPSK()
			if tt.reason != "" {
				if err == nil || !strings.Contains(err.Error(), tt.reason) {
					t.Fatalf("error = %v, want %q", err, tt.reason)
				}
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error %q reveals the key", err)
				}
				return
			}
			if err != nil || !bytes.Equal(key, tt.want) {
				t.Fatalf("key = %q, %v; want %q", key, err, tt.want)
			}
		})
	}
}

func TestDTLSOptionsCertificates(t *testing.T) {
	pki := newTestPKI(t)
	base := Config{URL: "coaps://127.0.0.1", CAFile: pki.CAFile, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile}
	if opts, err := base.dtlsOptions(); err != nil || len(opts) != 3 {
		t.Fatalf("dtlsOptions = %d options, %v; want roots, server name and certificate", len(opts), err)
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		reason string
	}{
		{"ca missing", func(c *Config) { c.CAFile = "/nonexistent/ca.pem" }, "ca_file: open /nonexistent/ca.pem"},
		{"ca not PEM", func(c *Config) { c.CAFile = writeSecret(t, "not a certificate", 0o644) }, "no PEM certificate found"},
		{"key readable by others", func(c *Config) { c.KeyFile = writeSecret(t, "x", 0o640) }, "key_file: "},
		{"key does not match", func(c *Config) {
			c.KeyFile = writeSecret(t, "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n", 0o600)
		}, "cert_file/key_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.mutate(&c)
			if _, err := c.dtlsOptions(); err == nil || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("error = %v, want %q", err, tt.reason)
			}
		})
	}
}
