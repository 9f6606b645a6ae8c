// Package coap polls CoAP devices (RFC 7252, plain UDP) with GET requests and
// turns the text or JSON representations they return into protocols.Samples.
package coap

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/wotchain/wotchain/protocols"
)

// Payload formats a point can be decoded from.
const (
	FormatText = "text" // text/plain: a single number or true/false
	FormatJSON = "json" // application/json, optionally narrowed by Field
)

// defaultPort is the IANA port for coap:// (RFC 7252 §6.1).
const defaultPort = "5683"

// Config is the protocol section of one CoAP device.
type Config struct {
	// URL is coap://host[:port]; the port defaults to 5683. Only plain UDP
	// is supported for now, coaps:// (DTLS) comes later.
	URL    string  `yaml:"url"`
	Points []Point `yaml:"points"`
}

// Point maps one value of a CoAP resource to a named sample.
type Point struct {
	Name string `yaml:"name"`
	// Path is the resource path, e.g. /sensors/env. Points sharing a path
	// are served by a single GET per poll.
	Path string `yaml:"path"`
	// Format is "text" (the default) or "json".
	Format string `yaml:"format"`
	// Field is, for json, the dotted path to the value inside the document
	// (e.g. "env.temperature"; a numeric segment indexes an array). Empty
	// means the whole payload is the value.
	Field string `yaml:"field"`
	Unit  string `yaml:"unit"`
}

// format returns the point's format with the default applied.
func (p Point) format() string {
	if p.Format == "" {
		return FormatText
	}
	return p.Format
}

// Validate reports every problem at once, each as a *protocols.FieldError
// naming the offending key, so an operator can fix a file in one pass.
func (c *Config) Validate() error {
	var errs []error
	if _, err := c.address(); err != nil {
		errs = append(errs, &protocols.FieldError{Field: "url", Err: err})
	}
	if len(c.Points) == 0 {
		errs = append(errs, protocols.FieldErrorf("points", "at least one point is required"))
	}
	seen := make(map[string]int, len(c.Points))
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
		}
		errs = append(errs, validateFormat(prefix, p)...)
	}
	return errors.Join(errs...)
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
	switch p.format() {
	case FormatText:
		if p.Field != "" {
			errs = append(errs, protocols.FieldErrorf(protocols.Nested(prefix, "field"),
				"only valid with format %q", FormatJSON))
		}
	case FormatJSON:
		if p.Field != "" && strings.Contains("."+p.Field+".", "..") {
			errs = append(errs, protocols.FieldErrorf(protocols.Nested(prefix, "field"),
				"empty segment in %q", p.Field))
		}
	default:
		errs = append(errs, protocols.FieldErrorf(protocols.Nested(prefix, "format"),
			"must be %q or %q, got %q", FormatText, FormatJSON, p.Format))
	}
	return errs
}

// address parses URL into the host:port to dial.
func (c *Config) address() (string, error) {
	if c.URL == "" {
		return "", errors.New("required")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return "", fmt.Errorf("invalid URL: %w", err)
	}
	switch {
	case u.Scheme == "coaps":
		return "", errors.New("coaps (DTLS) is not supported yet; use coap://")
	case u.Scheme != "coap":
		return "", fmt.Errorf("scheme must be coap, got %q", u.Scheme)
	case u.Hostname() == "":
		return "", fmt.Errorf("missing host in %q", c.URL)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/"):
		// Resource paths belong on the points, not on the device URL.
		return "", fmt.Errorf("must be coap://host[:port] only, got %q", c.URL)
	}
	port := u.Port()
	if port == "" {
		port = defaultPort
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}
