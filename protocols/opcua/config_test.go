package opcua

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/wotchain/wotchain/protocols"
)

func validConfig() Config {
	return Config{
		Endpoint: "opc.tcp://127.0.0.1:4840",
		Points: []Point{
			{Name: "temperature", NodeID: "ns=1;s=Boiler.Temperature", Unit: "°C"},
			{Name: "pressure", NodeID: "ns=1;s=Boiler.Pressure", Unit: "bar"},
			{Name: "running", NodeID: "ns=1;i=1001"},
		},
	}
}

// fieldPaths returns the Field of every *protocols.FieldError in err, which
// Validate builds with errors.Join.
func fieldPaths(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %v (%T) is not a joined error", err, err)
	}
	var paths []string
	for _, e := range joined.Unwrap() {
		var fe *protocols.FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("error %v (%T) is not a *protocols.FieldError", e, e)
		}
		paths = append(paths, fe.Field)
	}
	return paths
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string // field paths, in order
	}{
		{"valid", func(*Config) {}, nil},
		{"endpoint without port", func(c *Config) { c.Endpoint = "opc.tcp://plc.local/UA/Server" }, nil},
		{"explicit None", func(c *Config) { c.SecurityPolicy, c.SecurityMode = "None", "None" }, nil},
		{"signing policy", func(c *Config) { c.SecurityPolicy, c.SecurityMode = "Basic256Sha256", "SignAndEncrypt" }, nil},
		{"empty unit", func(c *Config) { c.Points[0].Unit = "" }, nil},

		{"endpoint missing", func(c *Config) { c.Endpoint = "" }, []string{"endpoint"}},
		{"endpoint scheme", func(c *Config) { c.Endpoint = "http://127.0.0.1:4840" }, []string{"endpoint"}},
		{"endpoint host", func(c *Config) { c.Endpoint = "opc.tcp://:4840" }, []string{"endpoint"}},
		{"endpoint port", func(c *Config) { c.Endpoint = "opc.tcp://127.0.0.1:99999" }, []string{"endpoint"}},
		{"endpoint garbage", func(c *Config) { c.Endpoint = "opc.tcp://[::1" }, []string{"endpoint"}},
		{"policy unknown", func(c *Config) { c.SecurityPolicy = "Basic128Rsa15" }, []string{"security_policy"}},
		{"mode unknown", func(c *Config) { c.SecurityMode = "Encrypt" }, []string{"security_mode"}},
		{"mode without policy", func(c *Config) { c.SecurityMode = "Sign" }, []string{"security_mode"}},
		{"policy without mode", func(c *Config) { c.SecurityPolicy = "Aes256Sha256RsaPss" }, []string{"security_mode"}},
		{"no points", func(c *Config) { c.Points = nil }, []string{"points"}},
		{"name missing", func(c *Config) { c.Points[0].Name = "" }, []string{"points[0].name"}},
		{"name duplicate", func(c *Config) { c.Points[2].Name = "temperature" }, []string{"points[2].name"}},
		{"node id missing", func(c *Config) { c.Points[1].NodeID = "" }, []string{"points[1].node_id"}},
		{"node id invalid", func(c *Config) { c.Points[2].NodeID = "ns=x;s=Oops" }, []string{"points[2].node_id"}},
		{"node id unknown kind", func(c *Config) { c.Points[2].NodeID = "ns=1;q=1" }, []string{"points[2].node_id"}},
		{"several at once", func(c *Config) {
			c.Endpoint = ""
			c.SecurityPolicy = "Nope"
			c.Points[0].Name = ""
			c.Points[1].NodeID = "bogus"
			c.Points[2].Name = "pressure"
		}, []string{"endpoint", "security_policy", "points[0].name", "points[1].node_id", "points[2].name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.mutate(&cfg)
			err := cfg.Validate()
			if got := fieldPaths(t, err); !slices.Equal(got, tt.want) {
				t.Fatalf("field paths = %q, want %q (err: %v)", got, tt.want, err)
			}
		})
	}
}

func TestValidateDuplicateNamesTheFirst(t *testing.T) {
	cfg := validConfig()
	cfg.Points[2].Name = "temperature"
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "points[0].name") {
		t.Fatalf("error %v should point back at points[0].name", err)
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	cfg := validConfig()
	cfg.Points[1].NodeID = "bogus"
	_, err := New(cfg, protocols.Options{DeviceID: "boiler-1"})
	var fe *protocols.FieldError
	if !errors.As(err, &fe) || fe.Field != "points[1].node_id" {
		t.Fatalf("New error = %v, want a FieldError for points[1].node_id", err)
	}
	if !strings.Contains(err.Error(), "boiler-1") {
		t.Errorf("New error %q does not name the device", err)
	}
}

func TestNewRejectsSecurityPolicyForNow(t *testing.T) {
	cfg := validConfig()
	cfg.SecurityPolicy, cfg.SecurityMode = PolicyBasic256Sha256, ModeSignAndEncrypt
	_, err := New(cfg, protocols.Options{DeviceID: "boiler-1"})
	if err == nil || !strings.Contains(err.Error(), "not supported yet") {
		t.Fatalf("New error = %v, want a 'not supported yet' error", err)
	}
}

func TestNewDoesNotConnect(t *testing.T) {
	cfg := validConfig()
	cfg.Endpoint = "opc.tcp://127.0.0.1:1" // nothing listens there
	s, err := New(cfg, protocols.Options{DeviceID: "boiler-1"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// The YAML keys are part of the appliance's configuration format.
func TestConfigYAML(t *testing.T) {
	const doc = `
endpoint: opc.tcp://127.0.0.1:4840
security_policy: None
security_mode: None
points:
  - {name: temperature,   node_id: "ns=1;s=Boiler.Temperature", unit: "°C"}
  - {name: burner_starts, node_id: "ns=1;s=Boiler.BurnerStarts"}
`
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	want := Config{
		Endpoint:       "opc.tcp://127.0.0.1:4840",
		SecurityPolicy: "None",
		SecurityMode:   "None",
		Points: []Point{
			{Name: "temperature", NodeID: "ns=1;s=Boiler.Temperature", Unit: "°C"},
			{Name: "burner_starts", NodeID: "ns=1;s=Boiler.BurnerStarts"},
		},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("decoded %+v, want %+v", cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}
