// Package opcua polls OPC UA servers with one Read request per poll and maps
// the returned DataValues to protocols.Samples.
package opcua

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/gopcua/opcua/ua"

	"github.com/wotchain/wotchain/protocols"
)

// Config is the protocol section of one OPC UA device.
type Config struct {
	Endpoint       string  `yaml:"endpoint"`        // opc.tcp://host[:port][/path]; port defaults to 4840
	SecurityPolicy string  `yaml:"security_policy"` // None (default), Basic256Sha256, Aes128Sha256RsaOaep, Aes256Sha256RsaPss
	SecurityMode   string  `yaml:"security_mode"`   // None (default), Sign, SignAndEncrypt
	Points         []Point `yaml:"points"`
}

// Point is one variable to read.
type Point struct {
	Name   string `yaml:"name"`
	NodeID string `yaml:"node_id"` // e.g. "ns=1;s=Boiler.Temperature"
	Unit   string `yaml:"unit"`
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

// Validate checks the configuration and returns every problem found, each as
// a *protocols.FieldError naming the offending key, joined with errors.Join.
func (c *Config) Validate() error {
	var errs []error
	if err := validateEndpoint(c.Endpoint); err != nil {
		errs = append(errs, &protocols.FieldError{Field: "endpoint", Err: err})
	}
	errs = append(errs, c.validateSecurity()...)
	errs = append(errs, validatePoints(c.Points)...)
	return errors.Join(errs...)
}

func validateEndpoint(endpoint string) error {
	if endpoint == "" {
		return errors.New("required")
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("invalid URL %q: %w", endpoint, err)
	}
	if u.Scheme != "opc.tcp" {
		return fmt.Errorf("scheme must be opc.tcp, got %q", u.Scheme)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("missing host in %q", endpoint)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("invalid port %q", p)
		}
	}
	return nil
}

func (c *Config) validateSecurity() []error {
	var errs []error
	policyOK, modeOK := true, true
	if _, ok := policyURI(c.policy()); !ok {
		policyOK = false
		errs = append(errs, protocols.FieldErrorf("security_policy",
			"unknown policy %q (want one of %s)", c.SecurityPolicy, strings.Join(policyNames(), ", ")))
	}
	if _, ok := messageSecurityMode(c.mode()); !ok {
		modeOK = false
		errs = append(errs, protocols.FieldErrorf("security_mode",
			"unknown mode %q (want one of None, Sign, SignAndEncrypt)", c.SecurityMode))
	}
	// OPC UA pairs policy None with mode None only, and a real policy with a
	// signing mode only; any other combination matches no server endpoint.
	if policyOK && modeOK && (c.policy() == PolicyNone) != (c.mode() == ModeNone) {
		errs = append(errs, protocols.FieldErrorf("security_mode",
			"mode %s cannot be used with security policy %s", c.mode(), c.policy()))
	}
	return errs
}

func policyNames() []string {
	return []string{PolicyNone, PolicyBasic256Sha256, PolicyAes128Sha256RsaOaep, PolicyAes256Sha256RsaPss}
}

func validatePoints(points []Point) []error {
	if len(points) == 0 {
		return []error{protocols.FieldErrorf("points", "at least one point is required")}
	}
	var errs []error
	seen := make(map[string]int, len(points))
	for i, p := range points {
		path := fmt.Sprintf("points[%d]", i)
		switch first, dup := seen[p.Name]; {
		case p.Name == "":
			errs = append(errs, protocols.FieldErrorf(protocols.Nested(path, "name"), "required"))
		case dup:
			errs = append(errs, protocols.FieldErrorf(protocols.Nested(path, "name"),
				"duplicate point name %q (also points[%d].name)", p.Name, first))
		default:
			seen[p.Name] = i
		}
		if p.NodeID == "" {
			errs = append(errs, protocols.FieldErrorf(protocols.Nested(path, "node_id"), "required"))
		} else if err := checkNodeID(p.NodeID); err != nil {
			errs = append(errs, &protocols.FieldError{Field: protocols.Nested(path, "node_id"), Err: err})
		}
	}
	return errs
}

// checkNodeID parses a node id with ua.ParseNodeID and, since that accepts
// any unprefixed identifier as a string id in namespace 0 (so "Boiler.Temp"
// or "ns=1;S=Temp" would silently address the wrong node), also requires the
// identifier to carry one of the prefixes i=, s=, g= or b=.
func checkNodeID(s string) error {
	if _, err := ua.ParseNodeID(s); err != nil {
		return fmt.Errorf("invalid node id %q: %w", s, err)
	}
	ident := s
	if ns, rest, ok := strings.Cut(s, ";"); ok && strings.HasPrefix(ns, "ns=") {
		ident = rest
	}
	for _, prefix := range []string{"i=", "s=", "g=", "b="} {
		if strings.HasPrefix(ident, prefix) {
			return nil
		}
	}
	return fmt.Errorf("invalid node id %q: identifier must start with i=, s=, g= or b=", s)
}
