// Package coap reads CoAP devices (RFC 7252) over UDP or DTLS and turns
// their representations into protocols.Samples.
//
// A point's resource is either polled with one GET per Poll, or observed
// (RFC 7641, `observe: true`): the source then keeps the observation open
// between polls and Poll returns every notification received since the
// previous Poll, oldest first, each with Received set.
//
// Observe semantics. CoAP Observe is eventually consistent: a device may
// skip intermediate states and only guarantees that the latest state
// reaches the client. The source therefore delivers every notification it
// receives, exactly once, in arrival order; a notification older than one
// already delivered (RFC 7641 §3.4) is discarded by go-coap. Notifications
// are buffered per resource up to observe_buffer entries; when the buffer
// is full the oldest is dropped and the next Poll carries a Bad sample per
// point saying how many were lost, so data loss is never silent. When no
// notification arrived for longer than observe_timeout (by default the
// Max-Age of the last notification plus the request timeout), or the
// connection was replaced, the next Poll registers again, which yields the
// current value. A resource that answers without the Observe option is
// registered (so effectively read) once per Poll.
package coap

import (
	"time"

	"github.com/wotchain/wotchain/internal/yamltime"
)

// Payload formats a point can be decoded from.
const (
	FormatText   = "text"   // text/plain: a single number or true/false
	FormatString = "string" // text/plain taken verbatim as a string value
	FormatJSON   = "json"   // application/json, optionally narrowed by Field
	FormatCBOR   = "cbor"   // application/cbor, optionally narrowed by Field
	FormatSenML  = "senml"  // application/senml+json or +cbor (RFC 8428), picked by SenMLName
)

// Encodings of a PSK and of SenML data values.
const (
	EncodingText   = "text"   // the bytes as written (PSK only)
	EncodingHex    = "hex"    // hexadecimal
	EncodingBase64 = "base64" // base64; SenML vd values use the URL alphabet without padding
)

// Defaults applied when a key is omitted.
const (
	defaultPort       = "5683" // coap://, RFC 7252 §6.1
	defaultSecurePort = "5684" // coaps://, RFC 7252 §6.2
	// DefaultObserveBuffer is how many notifications per observed resource
	// are kept between two polls.
	DefaultObserveBuffer = 128
	maxObserveBuffer     = 1 << 16
	// defaultMaxAge is Max-Age when a notification carries none (RFC 7252 §5.10.5).
	defaultMaxAge = 60 * time.Second
)

// Config is the protocol section of one CoAP device.
type Config struct {
	// URL is coap://host[:port] (UDP, port 5683 by default) or
	// coaps://host[:port] (DTLS, port 5684 by default).
	URL    string  `yaml:"url"`
	Points []Point `yaml:"points"`

	// Confirmable sends requests as CON (retransmitted until acknowledged);
	// false sends NON. Default true.
	Confirmable *bool `yaml:"confirmable"`
	// Observe is the default for points that do not set their own. Default false.
	Observe bool `yaml:"observe"`
	// ObserveTimeout is how long an observation may stay silent before it
	// is registered again. Zero: the Max-Age of the last notification (60s
	// when it carries none) plus the request timeout.
	ObserveTimeout Duration `yaml:"observe_timeout"`
	// ObserveBuffer is how many notifications per observed resource are
	// kept between polls (default DefaultObserveBuffer).
	ObserveBuffer int `yaml:"observe_buffer"`

	// DTLS with a pre-shared key (coaps:// only). The key itself is never
	// written in the configuration: it is read from a file (mode 0600) or
	// an environment variable.
	PSKIdentity    string `yaml:"psk_identity"`
	PSKKeyFile     string `yaml:"psk_key_file"`
	PSKKeyEnv      string `yaml:"psk_key_env"`
	PSKKeyEncoding string `yaml:"psk_key_encoding"` // text (default) | hex | base64

	// DTLS with certificates (coaps:// only). CAFile verifies the device;
	// CertFile and KeyFile (mode 0600) are the appliance's own certificate
	// for devices that require one. ServerName is the name the device's
	// certificate must carry; default the URL's host.
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	ServerName string `yaml:"server_name"`
}

// Point maps one value of a CoAP resource to a named sample.
type Point struct {
	Name string `yaml:"name"`
	// Path is the resource path, e.g. /sensors/env. Points sharing a path
	// are served by a single request (or observation).
	Path string `yaml:"path"`
	// Format is text (default), string, json, cbor or senml.
	Format string `yaml:"format"`
	// Field is, for json and cbor, the dotted path to the value inside the
	// document (e.g. "env.temperature"; a numeric segment indexes an array
	// or, in CBOR, matches an integer map key). Empty means the whole
	// payload is the value.
	Field string `yaml:"field"`
	// SenMLName is, for senml, the resolved record name (bn + n) to read.
	// Every record with that name becomes a sample.
	SenMLName string `yaml:"senml_name"`
	// DataEncoding is how a SenML data value (vd) becomes a string:
	// base64 (default, URL alphabet without padding as in RFC 8428) or hex.
	DataEncoding string `yaml:"data_encoding"`
	// Unit is the sample's unit. For senml, empty means the record's unit.
	Unit string `yaml:"unit"`
	// Observe overrides the device's observe setting for this point.
	// Points sharing a path read one resource, which is observed or
	// polled as a whole: they must agree (Validate refuses a mix).
	Observe *bool `yaml:"observe"`
}

// format returns the point's format with the default applied.
func (p Point) format() string {
	if p.Format == "" {
		return FormatText
	}
	return p.Format
}

// dataEncoding returns how SenML data values are rendered.
func (p Point) dataEncoding() string {
	if p.DataEncoding == "" {
		return EncodingBase64
	}
	return p.DataEncoding
}

// observed reports whether the point's resource is observed.
func (c *Config) observed(p Point) bool {
	if p.Observe != nil {
		return *p.Observe
	}
	return c.Observe
}

// confirmable reports whether requests are sent as CON.
func (c *Config) confirmable() bool {
	return c.Confirmable == nil || *c.Confirmable
}

func (c *Config) observeBuffer() int {
	if c.ObserveBuffer == 0 {
		return DefaultObserveBuffer
	}
	return c.ObserveBuffer
}

func (c *Config) pskKeyEncoding() string {
	if c.PSKKeyEncoding == "" {
		return EncodingText
	}
	return c.PSKKeyEncoding
}

// usesPSK and usesCerts tell which DTLS mode the keys select.
func (c *Config) usesPSK() bool {
	return c.PSKIdentity != "" || c.PSKKeyFile != "" || c.PSKKeyEnv != "" || c.PSKKeyEncoding != ""
}

func (c *Config) usesCerts() bool {
	return c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.ServerName != ""
}

// ResolvePaths rewrites the file keys (psk_key_file, ca_file, cert_file,
// key_file) with resolve, so the appliance can make them relative to the
// configuration file.
func (c *Config) ResolvePaths(resolve func(string) string) {
	for _, p := range []*string{&c.PSKKeyFile, &c.CAFile, &c.CertFile, &c.KeyFile} {
		if *p != "" {
			*p = resolve(*p)
		}
	}
}

// Duration is the YAML duration every configuration section uses.
type Duration = yamltime.Duration
