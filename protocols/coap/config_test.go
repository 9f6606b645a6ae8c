package coap

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wotchain/wotchain/protocols"
	"github.com/wotchain/wotchain/protocols/fieldtest"
)

func ptr[T any](v T) *T { return &v }

func senmlConfig() Config {
	return Config{URL: "coap://127.0.0.1", Points: []Point{
		{Name: "temp", Path: "/senml", Format: "senml", SenMLName: "urn:dev:ow:10e2073a01080063:temp"},
	}}
}

func pskConfig() Config {
	c := validConfig()
	c.URL, c.PSKIdentity, c.PSKKeyFile = "coaps://127.0.0.1", "appliance-1", "/etc/wotchain/coap.psk"
	return c
}

func certConfig() Config {
	c := validConfig()
	c.URL, c.CAFile, c.CertFile, c.KeyFile, c.ServerName = "coaps://10.0.0.5", "ca.pem", "client.pem", "client.key", "sensor-5"
	return c
}

func validConfig() Config {
	return Config{
		URL: "coap://127.0.0.1:5683",
		Points: []Point{
			{Name: "humidity", Path: "/sensors/humidity"},
			{Name: "temperature", Path: "/sensors/env", Format: "json", Field: "temperature"},
		},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		fields []string // expected FieldError paths, in order; nil means valid
	}{
		{name: "valid", mutate: func(*Config) {}},
		{name: "url without port", mutate: func(c *Config) { c.URL = "coap://device.local" }},
		{name: "url with slash", mutate: func(c *Config) { c.URL = "coap://[::1]:5683/" }},
		{name: "url missing", mutate: func(c *Config) { c.URL = "" }, fields: []string{"url"}},
		{name: "url coaps without keys", mutate: func(c *Config) { c.URL = "coaps://h:5684" }, fields: []string{"url"}},
		{name: "url http", mutate: func(c *Config) { c.URL = "http://h" }, fields: []string{"url"}},
		{name: "url no scheme", mutate: func(c *Config) { c.URL = "127.0.0.1:5683" }, fields: []string{"url"}},
		{name: "url no host", mutate: func(c *Config) { c.URL = "coap://:5683" }, fields: []string{"url"}},
		{name: "url bad port", mutate: func(c *Config) { c.URL = "coap://h:port" }, fields: []string{"url"}},
		{name: "url with path", mutate: func(c *Config) { c.URL = "coap://h/sensors" }, fields: []string{"url"}},
		{name: "no points", mutate: func(c *Config) { c.Points = nil }, fields: []string{"points"}},
		{name: "name missing", mutate: func(c *Config) { c.Points[0].Name = "" }, fields: []string{"points[0].name"}},
		{name: "name duplicate", mutate: func(c *Config) { c.Points[1].Name = "humidity" }, fields: []string{"points[1].name"}},
		{name: "path missing", mutate: func(c *Config) { c.Points[1].Path = "" }, fields: []string{"points[1].path"}},
		{name: "path relative", mutate: func(c *Config) { c.Points[0].Path = "sensors/x" }, fields: []string{"points[0].path"}},
		{name: "path query", mutate: func(c *Config) { c.Points[0].Path = "/x?a=1" }, fields: []string{"points[0].path"}},
		{name: "format unknown", mutate: func(c *Config) { c.Points[1].Format = "xml" }, fields: []string{"points[1].format"}},
		{name: "field with text", mutate: func(c *Config) { c.Points[0].Field = "a" }, fields: []string{"points[0].field"}},
		{name: "field empty segment", mutate: func(c *Config) { c.Points[1].Field = "env..t" }, fields: []string{"points[1].field"}},
		{name: "field leading dot", mutate: func(c *Config) { c.Points[1].Field = ".t" }, fields: []string{"points[1].field"}},
		{
			name: "several at once",
			mutate: func(c *Config) {
				c.URL = "coaps://h"
				c.Points = append(c.Points, Point{Name: "humidity", Path: "x", Format: "xml"})
			},
			fields: []string{"url", "points[2].name", "points[2].path", "points[2].format"},
		},

		// Formats and their keys.
		{name: "cbor with field", mutate: func(c *Config) { c.Points[1].Format, c.Points[1].Field = "cbor", "nested.7" }},
		{name: "string", mutate: func(c *Config) { c.Points[0].Format = "string" }},
		{name: "field with string", mutate: func(c *Config) { c.Points[0].Format, c.Points[0].Field = "string", "a" }, fields: []string{"points[0].field"}},
		{name: "senml", mutate: func(c *Config) { *c = senmlConfig() }},
		{name: "senml hex data", mutate: func(c *Config) { *c = senmlConfig(); c.Points[0].DataEncoding = "hex" }},
		{name: "senml without name", mutate: func(c *Config) { *c = senmlConfig(); c.Points[0].SenMLName = "" }, fields: []string{"points[0].senml_name"}},
		{name: "senml with field", mutate: func(c *Config) { *c = senmlConfig(); c.Points[0].Field = "v" }, fields: []string{"points[0].field"}},
		{name: "senml bad data encoding", mutate: func(c *Config) { *c = senmlConfig(); c.Points[0].DataEncoding = "utf8" }, fields: []string{"points[0].data_encoding"}},
		{name: "senml_name on json", mutate: func(c *Config) { c.Points[1].SenMLName = "x" }, fields: []string{"points[1].senml_name"}},
		{name: "data_encoding on text", mutate: func(c *Config) { c.Points[0].DataEncoding = "hex" }, fields: []string{"points[0].data_encoding"}},

		// Observe and transport keys.
		{name: "observe point", mutate: func(c *Config) { c.Points[0].Observe = ptr(true) }},
		{name: "observe device", mutate: func(c *Config) { c.Observe = true; c.ObserveTimeout = Duration(time.Second); c.ObserveBuffer = 8 }},
		{name: "observe disagree on path", mutate: func(c *Config) {
			c.Points = append(c.Points, Point{Name: "co2", Path: "/sensors/env", Format: "json", Field: "co2", Observe: ptr(true)})
		}, fields: []string{"points[2].observe"}},
		{name: "observe device default overridden on shared path", mutate: func(c *Config) {
			c.Observe = true
			c.Points = append(c.Points, Point{Name: "co2", Path: "/sensors/env", Format: "json", Field: "co2", Observe: ptr(false)})
		}, fields: []string{"points[2].observe"}},
		{name: "observe_timeout negative", mutate: func(c *Config) { c.ObserveTimeout = Duration(-time.Second) }, fields: []string{"observe_timeout"}},
		{name: "observe_buffer negative", mutate: func(c *Config) { c.ObserveBuffer = -1 }, fields: []string{"observe_buffer"}},
		{name: "observe_buffer huge", mutate: func(c *Config) { c.ObserveBuffer = 1 << 20 }, fields: []string{"observe_buffer"}},
		{name: "non-confirmable", mutate: func(c *Config) { c.Confirmable = ptr(false) }},

		// DTLS keys.
		{name: "psk from file", mutate: func(c *Config) { *c = pskConfig() }},
		{name: "psk from env hex", mutate: func(c *Config) {
			*c = pskConfig()
			c.PSKKeyFile, c.PSKKeyEnv, c.PSKKeyEncoding = "", "COAP_PSK", "hex"
		}},
		{name: "psk without identity", mutate: func(c *Config) { *c = pskConfig(); c.PSKIdentity = "" }, fields: []string{"psk_identity"}},
		{name: "psk without key", mutate: func(c *Config) { *c = pskConfig(); c.PSKKeyFile = "" }, fields: []string{"psk_key_file"}},
		{name: "psk file and env", mutate: func(c *Config) { *c = pskConfig(); c.PSKKeyEnv = "K" }, fields: []string{"psk_key_env"}},
		{name: "psk env bad name", mutate: func(c *Config) { *c = pskConfig(); c.PSKKeyFile, c.PSKKeyEnv = "", "1-KEY" }, fields: []string{"psk_key_env"}},
		{name: "psk bad encoding", mutate: func(c *Config) { *c = pskConfig(); c.PSKKeyEncoding = "rot13" }, fields: []string{"psk_key_encoding"}},
		{name: "psk and certs", mutate: func(c *Config) { *c = pskConfig(); c.CAFile = "ca.pem" }, fields: []string{"psk_identity"}},
		{name: "certs", mutate: func(c *Config) { *c = certConfig() }},
		{name: "certs server only", mutate: func(c *Config) { *c = certConfig(); c.CertFile, c.KeyFile = "", "" }},
		{name: "certs without ca", mutate: func(c *Config) { *c = certConfig(); c.CAFile = "" }, fields: []string{"ca_file"}},
		{name: "cert without key", mutate: func(c *Config) { *c = certConfig(); c.KeyFile = "" }, fields: []string{"key_file"}},
		{name: "key without cert", mutate: func(c *Config) { *c = certConfig(); c.CertFile = "" }, fields: []string{"cert_file"}},
		{name: "dtls keys on coap://", mutate: func(c *Config) {
			c.PSKIdentity, c.PSKKeyEnv, c.CAFile, c.ServerName = "id", "K", "ca.pem", "dev"
		}, fields: []string{"psk_identity", "psk_key_env", "ca_file", "server_name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.mutate(&cfg)
			if got := fieldtest.Paths(t, cfg.Validate()); !slices.Equal(got, tt.fields) {
				t.Fatalf("error fields = %q, want %q", got, tt.fields)
			}
		})
	}
}

func TestConfigYAML(t *testing.T) {
	const doc = `
url: coap://127.0.0.1:5683
points:
  - {name: humidity, path: /sensors/humidity, unit: "%"}
  - {name: co2, path: /sensors/env, format: json, field: co2, unit: ppm}
`
	cfg := decodeStrict(t, doc)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Point{Name: "co2", Path: "/sensors/env", Format: "json", Field: "co2", Unit: "ppm"}
	if cfg.Points[1] != want {
		t.Fatalf("points[1] = %+v, want %+v", cfg.Points[1], want)
	}
	if cfg.Points[0].format() != FormatText {
		t.Fatalf("default format = %q, want text", cfg.Points[0].format())
	}
	// Defaults of the keys an existing file does not have.
	if !cfg.confirmable() || cfg.observed(cfg.Points[0]) || cfg.ObserveTimeout != 0 || cfg.observeBuffer() != DefaultObserveBuffer {
		t.Fatalf("defaults: confirmable %v observe %v timeout %v buffer %d",
			cfg.confirmable(), cfg.observed(cfg.Points[0]), cfg.ObserveTimeout, cfg.observeBuffer())
	}
}

func TestConfigYAMLNewKeys(t *testing.T) {
	const doc = `
url: coaps://10.0.0.7
confirmable: false
observe: true
observe_timeout: 45s
observe_buffer: 32
psk_identity: appliance-1
psk_key_env: COAP_PSK
psk_key_encoding: hex
points:
  - {name: temp, path: /senml, format: senml, senml_name: "urn:dev:ow:1:temp", data_encoding: hex}
  - {name: state, path: /state, format: cbor, field: status, observe: false}
`
	cfg := decodeStrict(t, doc)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	addr, secure, err := cfg.endpoint()
	if err != nil || !secure || addr != "10.0.0.7:5684" {
		t.Fatalf("endpoint = %q %v %v, want 10.0.0.7:5684 over DTLS", addr, secure, err)
	}
	if cfg.confirmable() || cfg.ObserveTimeout.D() != 45*time.Second || cfg.observeBuffer() != 32 {
		t.Fatalf("confirmable %v timeout %v buffer %d", cfg.confirmable(), cfg.ObserveTimeout.D(), cfg.observeBuffer())
	}
	if !cfg.observed(cfg.Points[0]) || cfg.observed(cfg.Points[1]) {
		t.Fatal("observe: device default or point override not applied")
	}
	if cfg.PSKKeyEnv != "COAP_PSK" || cfg.Points[0].SenMLName != "urn:dev:ow:1:temp" || cfg.Points[0].dataEncoding() != "hex" {
		t.Fatalf("decoded %+v", cfg)
	}
}

func TestConfigYAMLBadDuration(t *testing.T) {
	var cfg Config
	err := yaml.Unmarshal([]byte("url: coap://h\nobserve_timeout: soon\n"), &cfg)
	if err == nil || !strings.Contains(err.Error(), `"soon" is not a duration`) {
		t.Fatalf("error = %v, want a duration error", err)
	}
}

// TestSecretsNeverInline: the appliance loads configuration with unknown
// keys refused, and there is no key that takes key material inline, so a
// key pasted into the file is refused rather than silently used.
func TestSecretsNeverInline(t *testing.T) {
	for _, key := range []string{"psk_key", "psk", "key", "psk_secret", "private_key"} {
		doc := "url: coaps://h\npsk_identity: a\n" + key + ": c2VjcmV0\npoints: [{name: t, path: /t}]\n"
		dec := yaml.NewDecoder(strings.NewReader(doc))
		dec.KnownFields(true)
		var cfg Config
		err := dec.Decode(&cfg)
		if err == nil || !strings.Contains(err.Error(), "field "+key+" not found") {
			t.Errorf("%s: error = %v, want unknown key", key, err)
		}
	}
}

func TestResolvePaths(t *testing.T) {
	c := Config{PSKKeyFile: "keys/dev.psk", CAFile: "/etc/ca.pem", CertFile: "c.pem", KeyFile: "../k.pem"}
	c.ResolvePaths(func(p string) string { // as the appliance's config.Resolve does
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join("/etc/wotchain", p)
	})
	want := Config{PSKKeyFile: "/etc/wotchain/keys/dev.psk", CAFile: "/etc/ca.pem", CertFile: "/etc/wotchain/c.pem", KeyFile: "/etc/k.pem"}
	if c.PSKKeyFile != want.PSKKeyFile || c.CAFile != want.CAFile || c.CertFile != want.CertFile || c.KeyFile != want.KeyFile {
		t.Fatalf("resolved %+v, want %+v", c, want)
	}
}

func decodeStrict(t *testing.T, doc string) Config {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true) // as the appliance's loader does
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	_, err := New(Config{URL: "coaps://h"}, protocols.Options{DeviceID: "dev1"})
	var fe *protocols.FieldError
	if !errors.As(err, &fe) || fe.Field != "url" || !strings.Contains(err.Error(), `"dev1"`) {
		t.Fatalf("New error = %v, want FieldError on url naming the device", err)
	}
}

// Points of one path that disagree on observe are refused with both points
// named, the setting each has (and where it comes from), and the rule.
func TestObserveDisagreementSaysWhy(t *testing.T) {
	cfg := validConfig()
	cfg.Observe = true
	cfg.Points = append(cfg.Points, Point{Name: "co2", Path: "/sensors/env", Format: "json", Field: "co2", Observe: ptr(false)})
	err := cfg.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"is false, but points[1] (temperature) reads the same path /sensors/env with observe true (the device's default)",
		"observed for all of its points or for none"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
