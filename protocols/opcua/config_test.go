package opcua

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"
	"gopkg.in/yaml.v3"

	"github.com/wotchain/wotchain/protocols"
	"github.com/wotchain/wotchain/protocols/fieldtest"
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
		{"node id by namespace URI", func(c *Config) { c.Points[0].NodeID = "nsu=urn:vendor:plant;s=Temp" }, nil},
		{"username with password file", func(c *Config) { c.Username, c.PasswordFile = "op", "pw" }, nil},
		{"username with password env", func(c *Config) { c.Username, c.PasswordEnv = "op", "OPCUA_PW" }, nil},
		{"user certificate", func(c *Config) { c.UserCertFile, c.UserKeyFile = "u.pem", "u.key" }, nil},
		{"subscribed points", func(c *Config) {
			c.Mode = "subscribe"
			c.Subscription = Subscription{PublishingInterval: Duration(time.Second), SamplingInterval: durPtr(0),
				QueueSize: 5, MaxItemsPerSubscription: 100, BufferSize: 50}
			c.Points[0].DeadbandAbsolute = 0.5
			c.Points[1].DeadbandPercent = 2
			c.Points[2].Mode, c.Points[2].QueueSize = "subscribe", 1
		}, nil},
		{"polled point in a subscribing device", func(c *Config) { c.Mode, c.Points[0].Mode = "subscribe", "poll" }, nil},

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
		{"node id empty namespace URI", func(c *Config) { c.Points[2].NodeID = "nsu=;s=Temp" }, []string{"points[2].node_id"}},
		{"node id URI without prefix", func(c *Config) { c.Points[2].NodeID = "nsu=urn:x;Temp" }, []string{"points[2].node_id"}},
		{"inline password", func(c *Config) { c.Username, c.InlinePassword = "op", "secret" }, []string{"password"}},
		{"username without password", func(c *Config) { c.Username = "op" }, []string{"username"}},
		{"password file without username", func(c *Config) { c.PasswordFile = "pw" }, []string{"password_file"}},
		{"password env without username", func(c *Config) { c.PasswordEnv = "PW" }, []string{"password_env"}},
		{"both password sources", func(c *Config) { c.Username, c.PasswordFile, c.PasswordEnv = "op", "pw", "PW" }, []string{"password_env"}},
		{"password env name", func(c *Config) { c.Username, c.PasswordEnv = "op", "1-bad" }, []string{"password_env"}},
		{"user cert without key", func(c *Config) { c.UserCertFile = "u.pem" }, []string{"user_key_file"}},
		{"user key without cert", func(c *Config) { c.UserKeyFile = "u.key" }, []string{"user_cert_file"}},
		{"username and user cert", func(c *Config) {
			c.Username, c.PasswordFile, c.UserCertFile, c.UserKeyFile = "op", "pw", "u.pem", "u.key"
		}, []string{"user_cert_file"}},
		{"device mode", func(c *Config) { c.Mode = "push" }, []string{"mode"}},
		{"publishing interval", func(c *Config) { c.Subscription.PublishingInterval = Duration(time.Microsecond) }, []string{"subscription.publishing_interval"}},
		{"sampling interval", func(c *Config) { c.Subscription.SamplingInterval = durPtr(-time.Second) }, []string{"subscription.sampling_interval"}},
		{"queue size", func(c *Config) { c.Subscription.QueueSize = -1 }, []string{"subscription.queue_size"}},
		{"max items", func(c *Config) { c.Subscription.MaxItemsPerSubscription = -1 }, []string{"subscription.max_items_per_subscription"}},
		{"buffer size", func(c *Config) { c.Subscription.BufferSize = -5 }, []string{"subscription.buffer_size"}},
		{"reconnect delay", func(c *Config) { c.MaxReconnectDelay = Duration(-time.Second) }, []string{"max_reconnect_delay"}},
		{"point mode", func(c *Config) { c.Points[1].Mode = "sometimes" }, []string{"points[1].mode"}},
		{"monitoring keys on a polled point", func(c *Config) {
			c.Points[1].SamplingInterval, c.Points[1].QueueSize = durPtr(time.Second), 3
			c.Points[1].DeadbandAbsolute, c.Points[1].DeadbandPercent = 1, 1
		}, []string{"points[1].sampling_interval", "points[1].queue_size", "points[1].deadband_absolute", "points[1].deadband_percent"}},
		{"point queue size", func(c *Config) { c.Points[0].Mode, c.Points[0].QueueSize = "subscribe", 1000001 }, []string{"points[0].queue_size"}},
		{"point sampling", func(c *Config) { c.Points[0].Mode, c.Points[0].SamplingInterval = "subscribe", durPtr(-1) }, []string{"points[0].sampling_interval"}},
		{"negative deadband", func(c *Config) { c.Points[0].Mode, c.Points[0].DeadbandAbsolute = "subscribe", -1 }, []string{"points[0].deadband_absolute"}},
		{"percent over 100", func(c *Config) { c.Points[0].Mode, c.Points[0].DeadbandPercent = "subscribe", 101 }, []string{"points[0].deadband_percent"}},
		{"both deadbands", func(c *Config) {
			c.Points[0].Mode, c.Points[0].DeadbandAbsolute, c.Points[0].DeadbandPercent = "subscribe", 1, 1
		}, []string{"points[0].deadband_percent"}},
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
			if got := fieldtest.Paths(t, err); !slices.Equal(got, tt.want) {
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

func TestNewNeedsStateDirForSecurity(t *testing.T) {
	cfg := validConfig()
	cfg.SecurityPolicy, cfg.SecurityMode = PolicyBasic256Sha256, ModeSignAndEncrypt
	_, err := New(cfg, protocols.Options{DeviceID: "boiler-1"})
	if err == nil || !strings.Contains(err.Error(), "state directory") || !strings.Contains(err.Error(), "boiler-1") {
		t.Fatalf("New error = %v, want one naming the device and the missing state directory", err)
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

func durPtr(d time.Duration) *Duration {
	v := Duration(d)
	return &v
}

// decodeStrict decodes doc as a device section, refusing unknown keys as the
// configuration loader does.
func decodeStrict(t *testing.T, doc string) Config {
	t.Helper()
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return cfg
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
	cfg := decodeStrict(t, doc)
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

// Every new key, as an integrator would write it.
func TestConfigYAMLAllKeys(t *testing.T) {
	const doc = `
endpoint: opc.tcp://plc.local:4840
security_policy: Aes256Sha256RsaPss
security_mode: SignAndEncrypt
trust_on_first_use: true
username: operator
password_env: PLC_PASSWORD
mode: subscribe
max_reconnect_delay: 1m
subscription:
  publishing_interval: 250ms
  sampling_interval: 0s
  queue_size: 20
  max_items_per_subscription: 200
  buffer_size: 5000
points:
  - {name: temperature, node_id: "nsu=urn:vendor:plant;s=Temp", unit: degC, deadband_absolute: 0.5, sampling_interval: 1s}
  - {name: level,       node_id: "ns=2;i=7", deadband_percent: 1.5, queue_size: 4}
  - {name: state,       node_id: "ns=2;i=8", mode: poll}
`
	cfg := decodeStrict(t, doc)
	want := Config{
		Endpoint: "opc.tcp://plc.local:4840", SecurityPolicy: "Aes256Sha256RsaPss", SecurityMode: "SignAndEncrypt",
		TrustOnFirstUse: true, Username: "operator", PasswordEnv: "PLC_PASSWORD", Mode: "subscribe",
		MaxReconnectDelay: Duration(time.Minute),
		Subscription: Subscription{PublishingInterval: Duration(250 * time.Millisecond), SamplingInterval: durPtr(0),
			QueueSize: 20, MaxItemsPerSubscription: 200, BufferSize: 5000},
		Points: []Point{
			{Name: "temperature", NodeID: "nsu=urn:vendor:plant;s=Temp", Unit: "degC", DeadbandAbsolute: 0.5, SamplingInterval: durPtr(time.Second)},
			{Name: "level", NodeID: "ns=2;i=7", DeadbandPercent: 1.5, QueueSize: 4},
			{Name: "state", NodeID: "ns=2;i=8", Mode: "poll"},
		},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("decoded %+v, want %+v", cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	// The effective monitoring parameters combine point and device keys.
	if m := cfg.monitoring(cfg.Points[0]); m.sampling != time.Second || m.queueSize != 20 || m.deadband != ua.DeadbandTypeAbsolute || m.value != 0.5 {
		t.Errorf("temperature monitoring = %+v", m)
	}
	if m := cfg.monitoring(cfg.Points[1]); m.sampling != 0 || m.queueSize != 4 || m.deadband != ua.DeadbandTypePercent || m.value != 1.5 {
		t.Errorf("level monitoring = %+v", m)
	}
	if cfg.pointMode(cfg.Points[2]) != ModePoll || cfg.pointMode(cfg.Points[0]) != ModeSubscribe {
		t.Error("point modes do not follow the device default and the point override")
	}
}

func TestDurationYAMLRejectsBareNumbers(t *testing.T) {
	var cfg Config
	err := yaml.Unmarshal([]byte("max_reconnect_delay: 30\n"), &cfg)
	if err == nil || !strings.Contains(err.Error(), "500ms") {
		t.Fatalf("error = %v, want one asking for a duration such as 500ms", err)
	}
}

func TestDefaults(t *testing.T) {
	cfg := validConfig()
	cfg.Points[0].Mode = ModeSubscribe
	m := cfg.monitoring(cfg.Points[0])
	if m.sampling != DefaultSamplingInterval || m.queueSize != DefaultQueueSize || m.deadband != ua.DeadbandTypeNone {
		t.Errorf("default monitoring = %+v", m)
	}
	if cfg.publishingInterval() != DefaultPublishingInterval || cfg.maxItemsPerSubscription() != DefaultMaxItemsPerSubscription ||
		cfg.bufferSize() != DefaultBufferSize || cfg.maxReconnectDelay() != DefaultMaxReconnectDelay {
		t.Error("subscription defaults not applied")
	}
}

func TestResolvePaths(t *testing.T) {
	cfg := Config{PasswordFile: "pw", UserCertFile: "/abs/u.pem", UserKeyFile: "u.key"}
	cfg.ResolvePaths(func(p string) string {
		if strings.HasPrefix(p, "/") {
			return p
		}
		return "/etc/wotchain/" + p
	})
	if cfg.PasswordFile != "/etc/wotchain/pw" || cfg.UserCertFile != "/abs/u.pem" || cfg.UserKeyFile != "/etc/wotchain/u.key" {
		t.Fatalf("resolved %+v", cfg)
	}
}
