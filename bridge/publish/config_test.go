package publish

import (
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wotchain/wotchain/protocols/fieldtest"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Config)
		want []string
	}{
		{"minimal", func(*Config) {}, nil},
		{"tls with files", func(c *Config) {
			c.Broker = "mqtts://broker:8883"
			c.TLS = TLS{CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "c.key", ServerName: "broker"}
		}, nil},
		{"username with password file", func(c *Config) { c.Username, c.PasswordFile = "u", "pw" }, nil},
		{"everything set", func(c *Config) {
			c.Name, c.ClientID, c.Topic, c.Retain = "cloud", "id", "x/{device}/{point}", true
			c.KeepAlive, c.ConnectTimeout, c.AckTimeout = Duration(time.Minute), Duration(time.Second), Duration(time.Second)
			c.MaxInflight, c.PollInterval, c.MaxReconnectDelay = 1, Duration(time.Second), Duration(time.Second)
		}, nil},
		{"no broker", func(c *Config) { c.Broker = "" }, []string{"broker"}},
		{"wrong scheme", func(c *Config) { c.Broker = "tcp://h:1883" }, []string{"broker"}},
		{"no host", func(c *Config) { c.Broker = "mqtt://:1883" }, []string{"broker"}},
		{"bad port", func(c *Config) { c.Broker = "mqtt://h:99999" }, []string{"broker"}},
		{"credentials in URL", func(c *Config) { c.Broker = "mqtt://u:p@h" }, []string{"broker"}},
		{"bad name", func(c *Config) { c.Name = "a/b" }, []string{"name"}},
		{"wildcard topic", func(c *Config) { c.Topic = "a/+/{point}" }, []string{"topic"}},
		{"reserved topic", func(c *Config) { c.Topic = "$SYS/{point}" }, []string{"topic"}},
		{"unknown placeholder", func(c *Config) { c.Topic = "a/{site}/{point}" }, []string{"topic"}},
		{"inline password", func(c *Config) { c.Username, c.InlinePassword = "u", "secret" }, []string{"password"}},
		{"password file without username", func(c *Config) { c.PasswordFile = "pw" }, []string{"password_file"}},
		{"both password sources", func(c *Config) { c.Username, c.PasswordFile, c.PasswordEnv = "u", "pw", "PW" }, []string{"password_env"}},
		{"bad env name", func(c *Config) { c.Username, c.PasswordEnv = "u", "1-x" }, []string{"password_env"}},
		{"tls on plain broker", func(c *Config) { c.TLS.CAFile = "ca.pem" }, []string{"tls"}},
		{"cert without key", func(c *Config) { c.Broker, c.TLS.CertFile = "mqtts://h", "c.pem" }, []string{"tls"}},
		{"short keepalive", func(c *Config) { c.KeepAlive = Duration(time.Millisecond) }, []string{"keepalive", "keepalive"}},
		{"fractional keepalive", func(c *Config) { c.KeepAlive = Duration(1500 * time.Millisecond) }, []string{"keepalive"}},
		{"short timeouts", func(c *Config) {
			c.ConnectTimeout, c.AckTimeout, c.PollInterval, c.MaxReconnectDelay = 1, 1, 1, 1
		}, []string{"connect_timeout", "ack_timeout", "poll_interval", "max_reconnect_delay"}},
		{"negative inflight", func(c *Config) { c.MaxInflight = -1 }, []string{"max_inflight"}},
		{"huge inflight", func(c *Config) { c.MaxInflight = 70000 }, []string{"max_inflight"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Broker: "mqtt://broker.example"}
			tc.mod(&c)
			if got := fieldtest.Paths(t, c.Validate()); !slices.Equal(got, tc.want) {
				t.Fatalf("fields %v, want %v (%v)", got, tc.want, c.Validate())
			}
		})
	}
}

func TestConfigYAML(t *testing.T) {
	src := `
broker: mqtts://broker.example
name: cloud
client_id: plant-1
topic: "site/{device}/{point}"
retain: true
username: wotchain
password_file: secrets/mqtt.pw
tls:
  ca_file: certs/ca.pem
  cert_file: certs/client.pem
  key_file: certs/client.key
  server_name: broker.example
keepalive: 20s
connect_timeout: 5s
ack_timeout: 3s
max_inflight: 16
poll_interval: 1s
max_reconnect_delay: 1m
`
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.ResolvePaths(func(p string) string { return "/etc/wotchain/" + p })
	want := Config{
		Broker: "mqtts://broker.example", Name: "cloud", ClientID: "plant-1", Topic: "site/{device}/{point}", Retain: true,
		Username: "wotchain", PasswordFile: "/etc/wotchain/secrets/mqtt.pw",
		TLS:       TLS{CAFile: "/etc/wotchain/certs/ca.pem", CertFile: "/etc/wotchain/certs/client.pem", KeyFile: "/etc/wotchain/certs/client.key", ServerName: "broker.example"},
		KeepAlive: Duration(20 * time.Second), ConnectTimeout: Duration(5 * time.Second), AckTimeout: Duration(3 * time.Second),
		MaxInflight: 16, PollInterval: Duration(time.Second), MaxReconnectDelay: Duration(time.Minute),
	}
	if c != want {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
	if c.CursorName() != "publish/cloud" {
		t.Errorf("cursor %q", c.CursorName())
	}
	if addr, _ := brokerAddress(c.Broker); addr != "mqtts://broker.example:8883" {
		t.Errorf("broker address %q", addr)
	}
	for _, bad := range []string{"keepalive: 30\n", "password: x\n"} {
		var c Config
		err := yaml.Unmarshal([]byte("broker: mqtt://h\n"+bad), &c)
		if err == nil {
			err = c.Validate()
		}
		if err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestTopic(t *testing.T) {
	cases := []struct{ tmpl, dev, point, want string }{
		{DefaultTopic, "boiler-1", "temperature", "wotchain/app/boiler-1/temperature"},
		{DefaultTopic, "agg.boiler-1", "temperature/1m/mean", "wotchain/app/agg.boiler-1/temperature/1m/mean"},
		{DefaultTopic, "d", "a+b#c", "wotchain/app/d/a_b_c"},
		{"{point}@{device}", "d", "p", "p@d"},
	}
	for _, tc := range cases {
		if got := Topic(tc.tmpl, "app", tc.dev, tc.point); got != tc.want {
			t.Errorf("Topic(%q, %q, %q) = %q, want %q", tc.tmpl, tc.dev, tc.point, got, tc.want)
		}
	}
}
