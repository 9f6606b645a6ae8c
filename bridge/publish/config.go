package publish

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/wotchain/wotchain/internal/yamltime"
	"github.com/wotchain/wotchain/protocols"
)

// Config is the appliance configuration's `mqtt:` section. Zero values mean
// the defaults below; Validate accepts them.
type Config struct {
	// Broker is mqtt://host[:1883] or mqtts://host[:8883] (TLS).
	Broker string `yaml:"broker"`
	// Name tells apart publishers of one appliance; the durable position is
	// the store cursor "publish/<name>". Default "mqtt". Renaming it
	// republishes everything from the first reading.
	Name string `yaml:"name"`
	// ClientID defaults to "wotchain-<appliance id>-<name>".
	ClientID string `yaml:"client_id"`
	// Topic is the topic template; {appliance}, {device} and {point} are
	// replaced. Default "wotchain/{appliance}/{device}/{point}".
	Topic string `yaml:"topic"`
	// Retain sets the MQTT retain flag, so a new subscriber gets each
	// topic's latest reading at once.
	Retain bool `yaml:"retain"`

	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"` // not readable by group or others; trailing newline ignored
	PasswordEnv  string `yaml:"password_env"`
	// InlinePassword exists only so that a "password:" key is refused with a
	// clear message: secrets are never written in the configuration.
	InlinePassword string `yaml:"password"`

	TLS TLS `yaml:"tls"` // only with mqtts://

	KeepAlive      Duration `yaml:"keepalive"`       // default 30s
	ConnectTimeout Duration `yaml:"connect_timeout"` // default 10s
	AckTimeout     Duration `yaml:"ack_timeout"`     // PUBACK wait before reconnecting; default 10s
	// MaxInflight is how many messages may await their PUBACK. Measured
	// (BenchmarkPublish, 2 cores, mosquitto): 1 gives 15k readings/s on
	// loopback but 80/s over a 10 ms round trip; 256 gives 29k and 17k.
	// Default 256; lower it for a broker that limits in-flight messages.
	MaxInflight       int      `yaml:"max_inflight"`
	PollInterval      Duration `yaml:"poll_interval"`       // store check without a Notify; default 5s
	MaxReconnectDelay Duration `yaml:"max_reconnect_delay"` // backoff cap; default 30s
}

// TLS configures mqtts://. Without CAFile the system roots are used.
type TLS struct {
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"` // client certificate (PEM), with KeyFile
	KeyFile    string `yaml:"key_file"`  // not readable by group or others
	ServerName string `yaml:"server_name"`
}

// Defaults of the optional keys.
const (
	DefaultName              = "mqtt"
	DefaultTopic             = "wotchain/{appliance}/{device}/{point}"
	DefaultKeepAlive         = 30 * time.Second
	DefaultConnectTimeout    = 10 * time.Second
	DefaultAckTimeout        = 10 * time.Second
	DefaultMaxInflight       = 256
	DefaultPollInterval      = 5 * time.Second
	DefaultMaxReconnectDelay = 30 * time.Second
	maxInflightLimit         = 65535 // MQTT packet identifiers are 16 bits
)

// Duration is the YAML duration every configuration section uses.
type Duration = yamltime.Duration

func orDefault[T int | time.Duration | string](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (c *Config) name() string  { return orDefault(c.Name, DefaultName) }
func (c *Config) topic() string { return orDefault(c.Topic, DefaultTopic) }
func (c *Config) keepAlive() time.Duration {
	return orDefault(c.KeepAlive.D(), DefaultKeepAlive)
}
func (c *Config) connectTimeout() time.Duration {
	return orDefault(c.ConnectTimeout.D(), DefaultConnectTimeout)
}
func (c *Config) ackTimeout() time.Duration { return orDefault(c.AckTimeout.D(), DefaultAckTimeout) }
func (c *Config) maxInflight() int          { return orDefault(c.MaxInflight, DefaultMaxInflight) }
func (c *Config) pollInterval() time.Duration {
	return orDefault(c.PollInterval.D(), DefaultPollInterval)
}
func (c *Config) maxReconnectDelay() time.Duration {
	return orDefault(c.MaxReconnectDelay.D(), DefaultMaxReconnectDelay)
}

// CursorName is the store cursor holding the last acknowledged sequence.
func (c *Config) CursorName() string { return "publish/" + c.name() }

// ResolvePaths rewrites the file keys with resolve, so the appliance can make
// them relative to the configuration file.
func (c *Config) ResolvePaths(resolve func(string) string) {
	for _, p := range []*string{&c.PasswordFile, &c.TLS.CAFile, &c.TLS.CertFile, &c.TLS.KeyFile} {
		if *p != "" {
			*p = resolve(*p)
		}
	}
}

var (
	envName     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	placeholder = regexp.MustCompile(`\{[^}]*\}`)
)

// Validate checks the section. Each error is a *protocols.FieldError whose
// field is relative to the section (for example "tls.ca_file"); they are
// joined with errors.Join.
func (c *Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, protocols.FieldErrorf(field, format, args...))
	}
	secure, err := brokerScheme(c.Broker)
	if err != nil {
		add("broker", "%v", err)
	}
	if c.Name != "" && !namePattern.MatchString(c.Name) {
		add("name", "letters, digits, '.', '_' or '-', at most 64 (got %q)", c.Name)
	}
	if len(c.ClientID) > 65535 {
		add("client_id", "longer than MQTT allows")
	}
	if err := validateTopic(c.topic()); err != nil {
		add("topic", "%v", err)
	}

	if c.InlinePassword != "" {
		add("password", "inline passwords are not accepted: put it in a file (password_file) or an environment variable (password_env)")
	}
	switch {
	case c.Username == "" && c.PasswordFile != "":
		add("password_file", "set without username")
	case c.Username == "" && c.PasswordEnv != "":
		add("password_env", "set without username")
	case c.PasswordFile != "" && c.PasswordEnv != "":
		add("password_env", "give one of password_file and password_env, not both")
	}
	if c.PasswordEnv != "" && !envName.MatchString(c.PasswordEnv) {
		add("password_env", "%q is not an environment variable name", c.PasswordEnv)
	}

	t := c.TLS
	if err == nil && !secure && t != (TLS{}) {
		add("tls", "TLS settings need an mqtts:// broker")
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		add("tls", "give both cert_file and key_file, or neither")
	}

	durations := []struct {
		field string
		v     Duration
		min   time.Duration
	}{
		{"keepalive", c.KeepAlive, time.Second},
		{"connect_timeout", c.ConnectTimeout, 100 * time.Millisecond},
		{"ack_timeout", c.AckTimeout, 100 * time.Millisecond},
		{"poll_interval", c.PollInterval, 10 * time.Millisecond},
		{"max_reconnect_delay", c.MaxReconnectDelay, 100 * time.Millisecond},
	}
	for _, d := range durations {
		if d.v != 0 && d.v.D() < d.min {
			add(d.field, "must be at least %s (got %s)", d.min, d.v)
		}
	}
	if c.KeepAlive.D()%time.Second != 0 {
		add("keepalive", "must be whole seconds (got %s)", c.KeepAlive)
	}
	if c.MaxInflight < 0 || c.MaxInflight > maxInflightLimit {
		add("max_inflight", "must be between 1 and %d (got %d)", maxInflightLimit, c.MaxInflight)
	}
	return errors.Join(errs...)
}

// brokerScheme checks the broker URL and reports whether it uses TLS.
func brokerScheme(broker string) (secure bool, err error) {
	if broker == "" {
		return false, errors.New("required, e.g. mqtts://broker.example:8883")
	}
	u, err := url.Parse(broker)
	if err != nil {
		return false, fmt.Errorf("invalid URL %q: %w", broker, err)
	}
	switch u.Scheme {
	case "mqtt":
	case "mqtts":
		secure = true
	default:
		return false, fmt.Errorf("scheme must be mqtt or mqtts, got %q", u.Scheme)
	}
	if u.Hostname() == "" {
		return false, fmt.Errorf("missing host in %q", broker)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return false, fmt.Errorf("%q: give only scheme, host and port (credentials go in username and password_file)", broker)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return false, fmt.Errorf("invalid port %q", p)
		}
	}
	return secure, nil
}

// brokerAddress is the URL handed to the client, with the default port.
func brokerAddress(broker string) (string, error) {
	u, err := url.Parse(broker)
	if err != nil {
		return "", err
	}
	port := u.Port()
	if port == "" {
		port = "1883"
		if u.Scheme == "mqtts" {
			port = "8883"
		}
	}
	return u.Scheme + "://" + net.JoinHostPort(u.Hostname(), port), nil
}

func validateTopic(tmpl string) error {
	if strings.ContainsAny(tmpl, "+#\x00") {
		return fmt.Errorf("%q: a topic name must not contain the wildcards + or #", tmpl)
	}
	if strings.HasPrefix(tmpl, "$") {
		return fmt.Errorf("%q: topics starting with $ are reserved for the broker", tmpl)
	}
	for _, ph := range placeholder.FindAllString(tmpl, -1) {
		switch ph {
		case "{appliance}", "{device}", "{point}":
		default:
			return fmt.Errorf("%q: unknown placeholder %s (use {appliance}, {device}, {point})", tmpl, ph)
		}
	}
	return nil
}
