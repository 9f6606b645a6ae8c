package modbus

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wotchain/wotchain/protocols"
	"github.com/wotchain/wotchain/protocols/fieldtest"
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

func TestValidateOK(t *testing.T) {
	cfg := validConfig()
	cfg.Points = append(cfg.Points,
		Point{Name: "a", Register: "INPUT", Address: 65534, Type: "Int32", Order: "cdab", Scale: ptr(0.1), Offset: -3},
		Point{Name: "b", Register: "discrete", Type: "bool"},
		Point{Name: "c", Register: "holding", Address: 65535, Type: "uint16"},
		Point{Name: "d", Register: "input", Address: 7, Type: "bit", Bit: ptr(15), Order: "BADC"},
		Point{Name: "e", Register: "holding", Address: 65411, Type: "string", Length: 125},
		Point{Name: "f", Register: "holding", Address: 9, Type: "bit", Bit: ptr(0)},
	)
	cfg.Pause, cfg.MaxGap, cfg.MaxRegisters, cfg.MaxBits = Duration(20*time.Millisecond), 10, 125, 2000
	cfg.UnitID = 0
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	for _, u := range []string{"tcp://plc.local", "tcp://[::1]:502", "tcp://10.0.0.1:1", "rtutcp://gw:4001",
		"rtu:///dev/ttyUSB0", "rtu:///dev/ttyS1?baud=9600&parity=N&data_bits=8&stop_bits=2"} {
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
		{"rtu without device path", func(c *Config) { c.URL = "rtu://ttyUSB0" }, []string{"url"}},
		{"rtu bad baud", func(c *Config) { c.URL = "rtu:///dev/ttyUSB0?baud=12345" }, []string{"url"}},
		{"rtu unknown parameter", func(c *Config) { c.URL = "rtu:///dev/ttyUSB0?speed=9600" }, []string{"url"}},
		{"rtutcp with path", func(c *Config) { c.URL = "rtutcp://gw:4001/x" }, []string{"url"}},
		{"tcp with query", func(c *Config) { c.URL = "tcp://gw:502?baud=9600" }, []string{"url"}},
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
		{"negative pause", func(c *Config) { c.Pause = Duration(-time.Millisecond) }, []string{"pause"}},
		{"huge pause", func(c *Config) { c.Pause = Duration(time.Minute) }, []string{"pause"}},
		{"negative max_gap", func(c *Config) { c.MaxGap = -1 }, []string{"max_gap"}},
		{"huge max_gap", func(c *Config) { c.MaxGap = 2000 }, []string{"max_gap"}},
		{"max_registers high", func(c *Config) { c.MaxRegisters = 126 }, []string{"max_registers"}},
		{"max_registers negative", func(c *Config) { c.MaxRegisters = -1 }, []string{"max_registers"}},
		{"max_bits high", func(c *Config) { c.MaxBits = 2001 }, []string{"max_bits"}},
		{"max_registers below a type", func(c *Config) { c.MaxRegisters = 1 }, []string{"points[0].type"}},
		{"bit on coil", func(c *Config) { c.Points[1].Bit = ptr(3) }, []string{"points[1].bit"}},
		{"bit on float", func(c *Config) { c.Points[0].Bit = ptr(3) }, []string{"points[0].bit"}},
		{"bit missing", func(c *Config) { c.Points[0].Type = "bit" }, []string{"points[0].bit"}},
		{"bit too high", func(c *Config) { c.Points[0].Type, c.Points[0].Bit = "bit", ptr(16) }, []string{"points[0].bit"}},
		{"bit negative", func(c *Config) { c.Points[0].Type, c.Points[0].Bit = "bit", ptr(-1) }, []string{"points[0].bit"}},
		{"bit with scale", func(c *Config) {
			c.Points[0].Type, c.Points[0].Bit, c.Points[0].Scale = "bit", ptr(1), ptr(2.0)
		}, []string{"points[0].scale"}},
		{"bit type on coil", func(c *Config) { c.Points[1].Type = "bit" }, []string{"points[1].type"}},
		{"length on float", func(c *Config) { c.Points[0].Length = 4 }, []string{"points[0].length"}},
		{"length missing", func(c *Config) { c.Points[0].Type = "string" }, []string{"points[0].length"}},
		{"length too long", func(c *Config) { c.Points[0].Type, c.Points[0].Length = "string", 126 }, []string{"points[0].length"}},
		{"length over max_registers", func(c *Config) {
			c.MaxRegisters = 10
			c.Points[0].Type, c.Points[0].Length = "string", 11
		}, []string{"points[0].length"}},
		{"length negative", func(c *Config) { c.Points[0].Type, c.Points[0].Length = "string", -2 }, []string{"points[0].length"}},
		{"string with offset", func(c *Config) {
			c.Points[0].Type, c.Points[0].Length, c.Points[0].Offset = "string", 2, 1
		}, []string{"points[0].offset"}},
		{"string past end", func(c *Config) {
			c.Points[0].Type, c.Points[0].Length, c.Points[0].Address = "string", 8, 65530
		}, []string{"points[0].address"}},
		{"string order unknown", func(c *Config) {
			c.Points[0].Type, c.Points[0].Length, c.Points[0].Order = "string", 2, "AB"
		}, []string{"points[0].order"}},
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
			got := fieldtest.Paths(t, cfg.Validate())
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
	if cfg.MaxRegisters != 125 || cfg.MaxBits != 2000 || cfg.MaxGap != 0 || cfg.Pause != 0 {
		t.Errorf("limits not defaulted: %+v", cfg)
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

func TestConfigYAMLNewKeys(t *testing.T) {
	const doc = `
url: rtu:///dev/ttyUSB0?baud=9600&parity=N&stop_bits=2
unit_id: 17
pause: 20ms
max_gap: 4
max_registers: 64
max_bits: 256
points:
  - {name: alarm, register: holding, address: 7, type: bit, bit: 3}
  - {name: serial_no, register: input, address: 20, type: string, length: 8, order: BADC}
`
	var cfg Config
	if err := yaml.Unmarshal([]byte(doc), &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Pause.D() != 20*time.Millisecond || cfg.MaxGap != 4 || cfg.MaxRegisters != 64 || cfg.MaxBits != 256 {
		t.Errorf("decoded %+v", cfg)
	}
	if p := cfg.Points[0]; p.Bit == nil || *p.Bit != 3 || p.Type != "bit" {
		t.Errorf("bit point %+v", p)
	}
	if p := cfg.Points[1]; p.Length != 8 || p.Order != "BADC" {
		t.Errorf("string point %+v", p)
	}
	ep, err := parseEndpoint(cfg.URL)
	if err != nil || ep.serial != (serialSettings{Baud: 9600, Parity: "N", DataBits: 8, StopBits: 2}) {
		t.Errorf("endpoint %+v, %v", ep, err)
	}

	var bad Config
	err = yaml.Unmarshal([]byte("pause: soon\n"), &bad)
	if err == nil || !strings.Contains(err.Error(), "line 1") || !strings.Contains(err.Error(), "not a duration") {
		t.Errorf("pause: soon: %v, want a duration error naming the line", err)
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
