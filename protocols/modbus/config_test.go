package modbus

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/wotchain/wotchain/protocols"
)

func ptr[T any](v T) *T { return &v }

func validConfig() Config {
	return Config{
		URL:    "tcp://127.0.0.1:5020",
		UnitID: 1,
		Points: []Point{
			{Name: "temperature", Register: "holding", Address: 0, Type: "float32", Order: "ABCD"},
			{Name: "running", Register: "coil", Address: 0},
		},
	}
}

// fieldPaths returns the Field of every *protocols.FieldError joined in err,
// failing the test on any other kind of error.
func fieldPaths(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %v is not an errors.Join", err)
	}
	var paths []string
	for _, e := range joined.Unwrap() {
		var fe *protocols.FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("error %v is not a *protocols.FieldError", e)
		}
		paths = append(paths, fe.Field)
	}
	return paths
}

func TestValidateOK(t *testing.T) {
	cfg := validConfig()
	cfg.Points = append(cfg.Points,
		Point{Name: "a", Register: "INPUT", Address: 65534, Type: "Int32", Order: "cdab", Scale: ptr(0.1), Offset: -3},
		Point{Name: "b", Register: "discrete", Type: "bool"},
		Point{Name: "c", Register: "holding", Address: 65535, Type: "uint16"},
	)
	cfg.UnitID = 0
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	for _, u := range []string{"tcp://plc.local", "tcp://[::1]:502", "tcp://10.0.0.1:1"} {
		cfg.URL = u
		if err := cfg.Validate(); err != nil {
			t.Errorf("url %q: %v", u, err)
		}
	}
}

func TestValidateFieldPaths(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   []string
	}{
		{"missing url", func(c *Config) { c.URL = "" }, []string{"url"}},
		{"rtu scheme", func(c *Config) { c.URL = "rtu:///dev/ttyUSB0" }, []string{"url"}},
		{"udp scheme", func(c *Config) { c.URL = "udp://1.2.3.4:502" }, []string{"url"}},
		{"no scheme", func(c *Config) { c.URL = "1.2.3.4:502" }, []string{"url"}},
		{"bad port", func(c *Config) { c.URL = "tcp://host:99999" }, []string{"url"}},
		{"path", func(c *Config) { c.URL = "tcp://host:502/x" }, []string{"url"}},
		{"unit id high", func(c *Config) { c.UnitID = 248 }, []string{"unit_id"}},
		{"unit id negative", func(c *Config) { c.UnitID = -1 }, []string{"unit_id"}},
		{"no points", func(c *Config) { c.Points = nil }, []string{"points"}},
		{"missing name", func(c *Config) { c.Points[1].Name = " " }, []string{"points[1].name"}},
		{"duplicate name", func(c *Config) { c.Points[1].Name = "temperature" }, []string{"points[1].name"}},
		{"missing register", func(c *Config) { c.Points[0].Register = "" }, []string{"points[0].register"}},
		{"unknown register", func(c *Config) { c.Points[0].Register = "eeprom" }, []string{"points[0].register"}},
		{"missing register type", func(c *Config) { c.Points[0].Type = "" }, []string{"points[0].type"}},
		{"unknown type", func(c *Config) { c.Points[0].Type = "float16" }, []string{"points[0].type"}},
		{"bool in holding", func(c *Config) { c.Points[0].Type = "bool" }, []string{"points[0].type"}},
		{"number in coil", func(c *Config) { c.Points[1].Type = "uint16" }, []string{"points[1].type"}},
		{"order on coil", func(c *Config) { c.Points[1].Order = "ABCD" }, []string{"points[1].order"}},
		{"unknown order", func(c *Config) { c.Points[0].Order = "ACBD" }, []string{"points[0].order"}},
		{"zero scale", func(c *Config) { c.Points[0].Scale = ptr(0.0) }, []string{"points[0].scale"}},
		{"NaN scale", func(c *Config) { c.Points[0].Scale = ptr(math.NaN()) }, []string{"points[0].scale"}},
		{"Inf offset", func(c *Config) { c.Points[0].Offset = math.Inf(-1) }, []string{"points[0].offset"}},
		{"address past end", func(c *Config) { c.Points[0].Address = 65535 }, []string{"points[0].address"}},
		{"several at once", func(c *Config) {
			c.URL = "http://x"
			c.Points[0].Type = "nope"
			c.Points[0].Order = "nope"
			c.Points[1].Name = ""
		}, []string{"url", "points[0].type", "points[0].order", "points[1].name"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := validConfig()
			tc.modify(&cfg)
			got := fieldPaths(t, cfg.Validate())
			if !slices.Equal(got, tc.want) {
				t.Fatalf("error fields %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	cfg := Config{URL: "tcp://h", Points: []Point{
		{Name: "r", Register: "holding", Type: "uint16"},
		{Name: "c", Register: "coil"},
		{Name: "x", Register: "bogus"},
	}}
	cfg.Defaults()
	if cfg.UnitID != 1 {
		t.Errorf("UnitID %d, want 1", cfg.UnitID)
	}
	if cfg.Points[0].Order != "ABCD" || cfg.Points[1].Type != "bool" || cfg.Points[1].Order != "" {
		t.Errorf("point defaults not applied: %+v", cfg.Points)
	}
	if cfg.Points[2] != (Point{Name: "x", Register: "bogus"}) {
		t.Errorf("invalid point was modified: %+v", cfg.Points[2])
	}
}

func TestConfigYAML(t *testing.T) {
	const doc = `
url: tcp://127.0.0.1:5020
unit_id: 3
points:
  - {name: pressure, register: holding, address: 2, type: uint16, scale: 0.01, offset: 0.5, unit: bar}
  - {name: cycles, register: holding, address: 3, type: uint32, order: CDAB}
`
	var cfg Config
	if err := yaml.Unmarshal([]byte(doc), &cfg); err != nil {
		t.Fatal(err)
	}
	want := Point{Name: "pressure", Register: "holding", Address: 2, Type: "uint16", Scale: ptr(0.01), Offset: 0.5, Unit: "bar"}
	got := cfg.Points[0]
	if cfg.UnitID != 3 || got.Scale == nil || *got.Scale != *want.Scale {
		t.Fatalf("decoded %+v", cfg)
	}
	got.Scale, want.Scale = nil, nil
	if got != want || cfg.Points[1].Order != "CDAB" {
		t.Fatalf("decoded %+v", cfg.Points)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	cfg := validConfig()
	cfg.Points[0].Type = "nope"
	_, err := New(cfg, protocols.Options{DeviceID: "plc1"})
	var fe *protocols.FieldError
	if !errors.As(err, &fe) || fe.Field != "points[0].type" || !strings.Contains(err.Error(), "plc1") {
		t.Fatalf("New error %v, want FieldError on points[0].type naming the device", err)
	}
}
