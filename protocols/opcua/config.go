package opcua

import (
	"time"

	"github.com/gopcua/opcua/ua"
)

// Config is the protocol section of one OPC UA device.
type Config struct {
	Endpoint       string `yaml:"endpoint"`        // opc.tcp://host[:port][/path]; port defaults to 4840
	SecurityPolicy string `yaml:"security_policy"` // None (default), Basic256Sha256, Aes128Sha256RsaOaep, Aes256Sha256RsaPss
	SecurityMode   string `yaml:"security_mode"`   // None (default), Sign, SignAndEncrypt
	// TrustOnFirstUse trusts an unknown server certificate, when no trusted
	// certificate carries the same application URI, by copying it into the
	// trust list. Off by default: an operator moves the certificate from
	// rejected/ to trusted/.
	TrustOnFirstUse bool `yaml:"trust_on_first_use"`

	// User authentication: anonymous unless Username or UserCertFile is set.
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"` // file holding the password (trailing newline ignored); not readable by group or others
	PasswordEnv  string `yaml:"password_env"`  // or the name of an environment variable holding it
	// InlinePassword exists only so that a "password:" key is refused with
	// a clear message instead of "unknown key": secrets are never inline.
	InlinePassword string `yaml:"password"`
	UserCertFile   string `yaml:"user_cert_file"` // X.509 user certificate (PEM or DER)
	UserKeyFile    string `yaml:"user_key_file"`  // its RSA private key (PEM); not readable by group or others

	// Mode is the default for points that set none: poll (default) or subscribe.
	Mode         string       `yaml:"mode"`
	Subscription Subscription `yaml:"subscription"`
	// MaxReconnectDelay caps the backoff between connection attempts after
	// failures; default 30s.
	MaxReconnectDelay Duration `yaml:"max_reconnect_delay"`

	Points []Point `yaml:"points"`
}

// Subscription sets how subscribed points are monitored.
type Subscription struct {
	// PublishingInterval is how often the server sends queued changes;
	// default 500ms.
	PublishingInterval Duration `yaml:"publishing_interval"`
	// SamplingInterval is how often the server samples a point, unless the
	// point sets its own; default 100ms. 0 asks for the server's fastest
	// rate, which many servers treat as "report every change".
	SamplingInterval *Duration `yaml:"sampling_interval"`
	// QueueSize is how many changes the server keeps per point between two
	// publishes, unless the point sets its own; default 10.
	QueueSize int `yaml:"queue_size"`
	// MaxItemsPerSubscription spreads the monitored items over as few
	// subscriptions as this allows; default 1000.
	MaxItemsPerSubscription int `yaml:"max_items_per_subscription"`
	// BufferSize bounds the values held between two polls; on overflow the
	// oldest are dropped and the loss is reported. Default 10000.
	BufferSize int `yaml:"buffer_size"`
}

// Point is one variable to read or monitor.
type Point struct {
	Name   string `yaml:"name"`
	NodeID string `yaml:"node_id"` // "ns=1;s=Boiler.Temperature", or by namespace URI "nsu=urn:vendor:plant;i=5001"
	Unit   string `yaml:"unit"`
	Mode   string `yaml:"mode"` // poll | subscribe; default the device's mode

	// Only for subscribed points.
	SamplingInterval *Duration `yaml:"sampling_interval"` // default subscription.sampling_interval
	QueueSize        int       `yaml:"queue_size"`        // default subscription.queue_size
	DeadbandAbsolute float64   `yaml:"deadband_absolute"` // report a change only when it exceeds this amount
	DeadbandPercent  float64   `yaml:"deadband_percent"`  // ... or this percentage of the node's EURange (0-100)
}

// Security policy and mode names as written in the configuration.
const (
	PolicyNone                = "None"
	PolicyBasic256Sha256      = "Basic256Sha256"
	PolicyAes128Sha256RsaOaep = "Aes128Sha256RsaOaep"
	PolicyAes256Sha256RsaPss  = "Aes256Sha256RsaPss"

	ModeNone           = "None"
	ModeSign           = "Sign"
	ModeSignAndEncrypt = "SignAndEncrypt"
)

// Point modes.
const (
	ModePoll      = "poll"
	ModeSubscribe = "subscribe"
)

// Defaults of the optional keys.
const (
	DefaultPublishingInterval      = 500 * time.Millisecond
	DefaultSamplingInterval        = 100 * time.Millisecond
	DefaultQueueSize               = 10
	DefaultMaxItemsPerSubscription = 1000
	DefaultBufferSize              = 10000
	DefaultMaxReconnectDelay       = 30 * time.Second
)

// policyURI maps a configuration name to its OPC UA policy URI. The config
// names drop the underscores of the URIs so they read like the others.
func policyURI(name string) (string, bool) {
	switch name {
	case PolicyNone:
		return ua.SecurityPolicyURINone, true
	case PolicyBasic256Sha256:
		return ua.SecurityPolicyURIBasic256Sha256, true
	case PolicyAes128Sha256RsaOaep:
		return ua.SecurityPolicyURIAes128Sha256RsaOaep, true
	case PolicyAes256Sha256RsaPss:
		return ua.SecurityPolicyURIAes256Sha256RsaPss, true
	}
	return "", false
}

// messageSecurityMode maps a configuration name to the OPC UA mode.
func messageSecurityMode(name string) (ua.MessageSecurityMode, bool) {
	switch name {
	case ModeNone:
		return ua.MessageSecurityModeNone, true
	case ModeSign:
		return ua.MessageSecurityModeSign, true
	case ModeSignAndEncrypt:
		return ua.MessageSecurityModeSignAndEncrypt, true
	}
	return ua.MessageSecurityModeInvalid, false
}

// policy returns the configured security policy name, defaulting to None.
func (c *Config) policy() string {
	if c.SecurityPolicy == "" {
		return PolicyNone
	}
	return c.SecurityPolicy
}

// mode returns the configured security mode name, defaulting to None.
func (c *Config) mode() string {
	if c.SecurityMode == "" {
		return ModeNone
	}
	return c.SecurityMode
}

// pointMode returns a point's effective mode.
func (c *Config) pointMode(p Point) string {
	switch {
	case p.Mode != "":
		return p.Mode
	case c.Mode != "":
		return c.Mode
	}
	return ModePoll
}

// ResolvePaths rewrites the file keys (password_file, user_cert_file,
// user_key_file) with resolve, so the appliance can make them relative to
// the configuration file.
func (c *Config) ResolvePaths(resolve func(string) string) {
	for _, p := range []*string{&c.PasswordFile, &c.UserCertFile, &c.UserKeyFile} {
		if *p != "" {
			*p = resolve(*p)
		}
	}
}

// monitoring holds a subscribed point's effective parameters.
type monitoring struct {
	sampling  time.Duration
	queueSize uint32
	deadband  ua.DeadbandType
	value     float64
}

func (c *Config) monitoring(p Point) monitoring {
	m := monitoring{sampling: DefaultSamplingInterval, queueSize: DefaultQueueSize}
	switch {
	case p.SamplingInterval != nil:
		m.sampling = p.SamplingInterval.D()
	case c.Subscription.SamplingInterval != nil:
		m.sampling = c.Subscription.SamplingInterval.D()
	}
	switch {
	case p.QueueSize > 0:
		m.queueSize = uint32(p.QueueSize)
	case c.Subscription.QueueSize > 0:
		m.queueSize = uint32(c.Subscription.QueueSize)
	}
	switch {
	case p.DeadbandAbsolute > 0:
		m.deadband, m.value = ua.DeadbandTypeAbsolute, p.DeadbandAbsolute
	case p.DeadbandPercent > 0:
		m.deadband, m.value = ua.DeadbandTypePercent, p.DeadbandPercent
	}
	return m
}

func orDefault[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

func (c *Config) publishingInterval() time.Duration {
	return orDefault(c.Subscription.PublishingInterval.D(), DefaultPublishingInterval)
}

func (c *Config) maxItemsPerSubscription() int {
	return orDefault(c.Subscription.MaxItemsPerSubscription, DefaultMaxItemsPerSubscription)
}

func (c *Config) bufferSize() int {
	return orDefault(c.Subscription.BufferSize, DefaultBufferSize)
}

func (c *Config) maxReconnectDelay() time.Duration {
	return orDefault(c.MaxReconnectDelay.D(), DefaultMaxReconnectDelay)
}
