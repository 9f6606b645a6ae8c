package coap

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/wotchain/wotchain/protocols"
)

// Validate reports every problem at once, each as a *protocols.FieldError
// naming the offending key, so an operator can fix a file in one pass. It
// reads no files: key and certificate files are loaded by New.
func (c *Config) Validate() error {
	var errs []error
	add := func(field string, err error) {
		errs = append(errs, &protocols.FieldError{Field: field, Err: err})
	}
	secure := false
	if _, s, err := c.endpoint(); err != nil {
		add("url", err)
	} else {
		secure = s
	}
	if c.ObserveTimeout < 0 {
		add("observe_timeout", errors.New("must not be negative"))
	}
	if c.ObserveBuffer < 0 || c.ObserveBuffer > maxObserveBuffer {
		add("observe_buffer", fmt.Errorf("must be between 1 and %d, got %d", maxObserveBuffer, c.ObserveBuffer))
	}
	for _, fe := range c.validateSecurity(secure) {
		errs = append(errs, fe)
	}
	errs = append(errs, c.validatePoints()...)
	return errors.Join(errs...)
}

func (c *Config) validatePoints() []error {
	var errs []error
	if len(c.Points) == 0 {
		errs = append(errs, protocols.FieldErrorf("points", "at least one point is required"))
	}
	seen := make(map[string]int, len(c.Points))
	observeOf := make(map[string]int) // path -> first point using it
	for i, p := range c.Points {
		prefix := fmt.Sprintf("points[%d]", i)
		if p.Name == "" {
			errs = append(errs, protocols.FieldErrorf(protocols.Nested(prefix, "name"), "required"))
		} else if first, dup := seen[p.Name]; dup {
			errs = append(errs, protocols.FieldErrorf(protocols.Nested(prefix, "name"),
				"duplicate name %q (already used by points[%d])", p.Name, first))
		} else {
			seen[p.Name] = i
		}
		if err := validatePath(p.Path); err != nil {
			errs = append(errs, &protocols.FieldError{Field: protocols.Nested(prefix, "path"), Err: err})
		} else if first, ok := observeOf[p.Path]; !ok {
			observeOf[p.Path] = i
		} else if c.observed(p) != c.observed(c.Points[first]) {
			// One resource has one observation or none; a mixed setting
			// would silently win for one of the points.
			errs = append(errs, protocols.FieldErrorf(protocols.Nested(prefix, "observe"),
				"is %s, but points[%d] (%s) reads the same path %s with observe %s: a path is one resource, observed for all of its points or for none; give them the same observe",
				c.observeSetting(p), first, c.Points[first].Name, p.Path, c.observeSetting(c.Points[first])))
		}
		errs = append(errs, validateFormat(prefix, p)...)
	}
	return errs
}

// observeSetting says whether the point is observed and, when it does not
// say so itself, that the device's default decides.
func (c *Config) observeSetting(p Point) string {
	if p.Observe == nil {
		return fmt.Sprintf("%t (the device's default)", c.Observe)
	}
	return fmt.Sprint(*p.Observe)
}

func validatePath(p string) error {
	switch {
	case p == "":
		return errors.New("required")
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("must start with \"/\", got %q", p)
	case strings.ContainsAny(p, "?#"):
		// go-coap would encode these into the path, not as Uri-Query.
		return fmt.Errorf("query strings and fragments are not supported, got %q", p)
	}
	return nil
}

func validateFormat(prefix string, p Point) []error {
	var errs []error
	field := func(key, format string, args ...any) {
		errs = append(errs, protocols.FieldErrorf(protocols.Nested(prefix, key), format, args...))
	}
	f := p.format()
	switch f {
	case FormatText, FormatString, FormatJSON, FormatCBOR, FormatSenML:
	default:
		field("format", "must be one of %s, %s, %s, %s or %s, got %q",
			FormatText, FormatString, FormatJSON, FormatCBOR, FormatSenML, p.Format)
		return errs
	}
	switch {
	case p.Field != "" && f != FormatJSON && f != FormatCBOR:
		field("field", "only valid with format %q or %q", FormatJSON, FormatCBOR)
	case p.Field != "" && strings.Contains("."+p.Field+".", ".."):
		field("field", "empty segment in %q", p.Field)
	}
	switch {
	case f == FormatSenML && p.SenMLName == "":
		field("senml_name", "required with format %q (the record name bn+n, e.g. \"urn:dev:ow:10e2073a01080063:temp\")", FormatSenML)
	case f != FormatSenML && p.SenMLName != "":
		field("senml_name", "only valid with format %q", FormatSenML)
	}
	switch {
	case p.DataEncoding != "" && f != FormatSenML:
		field("data_encoding", "only valid with format %q", FormatSenML)
	case p.dataEncoding() != EncodingBase64 && p.dataEncoding() != EncodingHex:
		field("data_encoding", "must be %q or %q, got %q", EncodingBase64, EncodingHex, p.DataEncoding)
	}
	return errs
}

// envName is what a POSIX shell accepts as a variable name.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// validateSecurity checks the DTLS keys: they belong to coaps:// only, and
// exactly one mode (PSK or certificates) must be complete.
func (c *Config) validateSecurity(secure bool) []*protocols.FieldError {
	var errs []*protocols.FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, protocols.FieldErrorf(field, format, args...))
	}
	if !secure {
		for _, k := range []struct {
			key string
			set bool
		}{
			{"psk_identity", c.PSKIdentity != ""}, {"psk_key_file", c.PSKKeyFile != ""},
			{"psk_key_env", c.PSKKeyEnv != ""}, {"psk_key_encoding", c.PSKKeyEncoding != ""},
			{"ca_file", c.CAFile != ""}, {"cert_file", c.CertFile != ""},
			{"key_file", c.KeyFile != ""}, {"server_name", c.ServerName != ""},
		} {
			if k.set {
				add(k.key, "only valid with a coaps:// url")
			}
		}
		return errs
	}
	switch {
	case c.usesPSK() && c.usesCerts():
		add("psk_identity", "choose pre-shared key (psk_*) or certificates (ca_file, cert_file, key_file), not both")
		return errs
	case !c.usesPSK() && !c.usesCerts():
		add("url", "coaps:// needs psk_identity with psk_key_file or psk_key_env, or ca_file for certificates")
		return errs
	case c.usesPSK():
		if c.PSKIdentity == "" {
			add("psk_identity", "required with a pre-shared key")
		}
		switch {
		case c.PSKKeyFile == "" && c.PSKKeyEnv == "":
			add("psk_key_file", "psk_key_file or psk_key_env is required (the key is never written in the configuration)")
		case c.PSKKeyFile != "" && c.PSKKeyEnv != "":
			add("psk_key_env", "set psk_key_file or psk_key_env, not both")
		case c.PSKKeyEnv != "" && !envName.MatchString(c.PSKKeyEnv):
			add("psk_key_env", "%q is not an environment variable name", c.PSKKeyEnv)
		}
		switch c.pskKeyEncoding() {
		case EncodingText, EncodingHex, EncodingBase64:
		default:
			add("psk_key_encoding", "must be %q, %q or %q, got %q", EncodingText, EncodingHex, EncodingBase64, c.PSKKeyEncoding)
		}
	default:
		if c.CAFile == "" {
			add("ca_file", "required with certificates: the CA that signed the device's certificate")
		}
		if (c.CertFile == "") != (c.KeyFile == "") {
			if c.CertFile == "" {
				add("cert_file", "required with key_file")
			} else {
				add("key_file", "required with cert_file")
			}
		}
	}
	return errs
}

// endpoint parses URL into the host:port to dial and whether it is coaps.
func (c *Config) endpoint() (addr string, secure bool, err error) {
	if c.URL == "" {
		return "", false, errors.New("required")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return "", false, fmt.Errorf("invalid URL: %w", err)
	}
	port := defaultPort
	switch {
	case u.Scheme == "coaps":
		secure, port = true, defaultSecurePort
	case u.Scheme != "coap":
		return "", false, fmt.Errorf("scheme must be coap or coaps, got %q", u.Scheme)
	}
	switch {
	case u.Hostname() == "":
		return "", false, fmt.Errorf("missing host in %q", c.URL)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/"):
		// Resource paths belong on the points, not on the device URL.
		return "", false, fmt.Errorf("must be %s://host[:port] only, got %q", u.Scheme, c.URL)
	}
	if p := u.Port(); p != "" {
		port = p
	}
	return net.JoinHostPort(u.Hostname(), port), secure, nil
}

// host is the URL's host name, the default DTLS server name.
func (c *Config) host() string {
	u, err := url.Parse(c.URL)
	if err != nil {
		return ""
	}
	return u.Hostname()
}
