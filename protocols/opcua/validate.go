package opcua

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/wotchain/wotchain/protocols"
)

// Validate checks the configuration and returns every problem found, each as
// a *protocols.FieldError naming the offending key, joined with errors.Join.
// It only looks at the configuration itself; files and environment
// variables are read by New.
func (c *Config) Validate() error {
	var errs []error
	if err := validateEndpoint(c.Endpoint); err != nil {
		errs = append(errs, &protocols.FieldError{Field: "endpoint", Err: err})
	}
	errs = append(errs, c.validateSecurity()...)
	errs = append(errs, c.validateAuth()...)
	errs = append(errs, c.validateSubscription()...)
	errs = append(errs, c.validatePoints()...)
	return errors.Join(errs...)
}

// validateConnection checks only the keys that matter for connecting, for
// Browse, which has no points.
func (c *Config) validateConnection() error {
	errs := c.validateSecurity()
	errs = append(errs, c.validateAuth()...)
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

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c *Config) validateAuth() []error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, protocols.FieldErrorf(field, format, args...))
	}
	if c.InlinePassword != "" {
		add("password", "inline passwords are not accepted: put it in a file (password_file) or an environment variable (password_env)")
	}
	switch {
	case c.Username == "" && (c.PasswordFile != "" || c.PasswordEnv != ""):
		field := "password_file"
		if c.PasswordFile == "" {
			field = "password_env"
		}
		add(field, "needs username")
	case c.Username != "" && c.PasswordFile == "" && c.PasswordEnv == "" && c.InlinePassword == "":
		add("username", "needs password_file or password_env")
	case c.PasswordFile != "" && c.PasswordEnv != "":
		add("password_env", "set either password_file or password_env, not both")
	}
	if c.PasswordEnv != "" && !envName.MatchString(c.PasswordEnv) {
		add("password_env", "%q is not an environment variable name", c.PasswordEnv)
	}
	switch {
	case c.UserCertFile != "" && c.UserKeyFile == "":
		add("user_key_file", "required with user_cert_file")
	case c.UserCertFile == "" && c.UserKeyFile != "":
		add("user_cert_file", "required with user_key_file")
	}
	if c.Username != "" && c.UserCertFile != "" {
		add("user_cert_file", "set either username or user_cert_file, not both")
	}
	return errs
}

func (c *Config) validateSubscription() []error {
	var errs []error
	if c.Mode != "" && c.Mode != ModePoll && c.Mode != ModeSubscribe {
		errs = append(errs, protocols.FieldErrorf("mode", "unknown mode %q (want poll or subscribe)", c.Mode))
	}
	s := c.Subscription
	if d := s.PublishingInterval.D(); d != 0 && d < time.Millisecond {
		errs = append(errs, protocols.FieldErrorf("subscription.publishing_interval", "must be at least 1ms, got %v", d))
	}
	if err := checkSampling(s.SamplingInterval); err != nil {
		errs = append(errs, &protocols.FieldError{Field: "subscription.sampling_interval", Err: err})
	}
	if err := checkQueueSize(s.QueueSize); err != nil {
		errs = append(errs, &protocols.FieldError{Field: "subscription.queue_size", Err: err})
	}
	if s.MaxItemsPerSubscription < 0 {
		errs = append(errs, protocols.FieldErrorf("subscription.max_items_per_subscription", "must be positive"))
	}
	if s.BufferSize < 0 {
		errs = append(errs, protocols.FieldErrorf("subscription.buffer_size", "must be positive"))
	}
	if c.MaxReconnectDelay < 0 {
		errs = append(errs, protocols.FieldErrorf("max_reconnect_delay", "must be positive"))
	}
	return errs
}

// maxQueueSize keeps a typo from asking a server for a huge queue.
const maxQueueSize = 100000

func checkQueueSize(n int) error {
	if n < 0 || n > maxQueueSize {
		return fmt.Errorf("must be between 1 and %d, got %d", maxQueueSize, n)
	}
	return nil
}

func checkSampling(d *Duration) error {
	if d != nil && d.D() < 0 {
		return fmt.Errorf("must not be negative, got %v", d.D())
	}
	return nil
}

func (c *Config) validatePoints() []error {
	if len(c.Points) == 0 {
		return []error{protocols.FieldErrorf("points", "at least one point is required")}
	}
	var errs []error
	seen := make(map[string]int, len(c.Points))
	for i, p := range c.Points {
		path := fmt.Sprintf("points[%d]", i)
		add := func(key, format string, args ...any) {
			errs = append(errs, protocols.FieldErrorf(protocols.Nested(path, key), format, args...))
		}
		switch first, dup := seen[p.Name]; {
		case p.Name == "":
			add("name", "required")
		case dup:
			add("name", "duplicate point name %q (also points[%d].name)", p.Name, first)
		default:
			seen[p.Name] = i
		}
		if p.NodeID == "" {
			add("node_id", "required")
		} else if _, err := parseNodeRef(p.NodeID); err != nil {
			errs = append(errs, &protocols.FieldError{Field: protocols.Nested(path, "node_id"), Err: err})
		}
		errs = append(errs, c.validatePointMonitoring(path, p)...)
	}
	return errs
}

// validatePointMonitoring checks the subscription keys of a point. They are
// refused on polled points rather than ignored, so a forgotten "mode" does
// not silently drop a deadband.
func (c *Config) validatePointMonitoring(path string, p Point) []error {
	var errs []error
	add := func(key string, err error) {
		errs = append(errs, &protocols.FieldError{Field: protocols.Nested(path, key), Err: err})
	}
	if p.Mode != "" && p.Mode != ModePoll && p.Mode != ModeSubscribe {
		add("mode", fmt.Errorf("unknown mode %q (want poll or subscribe)", p.Mode))
		return errs
	}
	if c.pointMode(p) == ModePoll {
		for _, k := range []struct {
			key string
			set bool
		}{
			{"sampling_interval", p.SamplingInterval != nil},
			{"queue_size", p.QueueSize != 0},
			{"deadband_absolute", p.DeadbandAbsolute != 0},
			{"deadband_percent", p.DeadbandPercent != 0},
		} {
			if k.set {
				add(k.key, errors.New("only for subscribed points (mode: subscribe)"))
			}
		}
		return errs
	}
	if err := checkSampling(p.SamplingInterval); err != nil {
		add("sampling_interval", err)
	}
	if err := checkQueueSize(p.QueueSize); err != nil {
		add("queue_size", err)
	}
	if p.DeadbandAbsolute < 0 || math.IsNaN(p.DeadbandAbsolute) || math.IsInf(p.DeadbandAbsolute, 0) {
		add("deadband_absolute", fmt.Errorf("must be a positive number, got %v", p.DeadbandAbsolute))
	}
	if p.DeadbandPercent < 0 || p.DeadbandPercent > 100 || math.IsNaN(p.DeadbandPercent) {
		add("deadband_percent", fmt.Errorf("must be between 0 and 100, got %v", p.DeadbandPercent))
	}
	if p.DeadbandAbsolute > 0 && p.DeadbandPercent > 0 {
		add("deadband_percent", errors.New("set either deadband_absolute or deadband_percent, not both"))
	}
	return errs
}
