// Package modbus polls Modbus TCP devices and turns register and bit values
// into protocols.Samples.
package modbus

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/wotchain/wotchain/protocols"
)

// DefaultPort is used when the URL names no port.
const DefaultPort = "502"

// DefaultUnitID is applied by Defaults when unit_id is missing (zero).
const DefaultUnitID = 1

// maxUnitID is the highest unicast unit id the Modbus spec allows.
const maxUnitID = 247

// Config is the modbus section of one device's configuration.
type Config struct {
	URL string `yaml:"url"` // tcp://host[:port]; only tcp for now
	// UnitID is the Modbus unit (slave) id, 0..247. Defaults turns 0 into 1,
	// because a missing key decodes as 0 and most devices answer on unit 1.
	UnitID int     `yaml:"unit_id"`
	Points []Point `yaml:"points"`
}

// Point is one value read from the device.
type Point struct {
	Name     string `yaml:"name"`
	Register string `yaml:"register"` // holding | input | coil | discrete
	Address  uint16 `yaml:"address"`  // zero-based protocol address
	// Type is int16 uint16 int32 uint32 int64 uint64 float32 float64 for
	// registers, bool (the default) for coils and discrete inputs.
	Type string `yaml:"type"`
	// Order is the byte order of multi-byte values: ABCD (default, big
	// endian), DCBA, BADC or CDAB. Registers only.
	Order  string   `yaml:"order"`
	Scale  *float64 `yaml:"scale"` // value = raw*scale + offset; nil means 1
	Offset float64  `yaml:"offset"`
	Unit   string   `yaml:"unit"`
}

// Defaults fills in the values a config may leave out. It is idempotent and
// leaves invalid values alone for Validate to report.
func (c *Config) Defaults() {
	if c.UnitID == 0 {
		c.UnitID = DefaultUnitID
	}
	for i := range c.Points {
		p := &c.Points[i]
		kind, ok := parseRegisterKind(p.Register)
		if !ok {
			continue
		}
		if kind.isBit() {
			if p.Type == "" {
				p.Type = "bool"
			}
		} else if p.Order == "" {
			p.Order = "ABCD"
		}
	}
}

// Validate reports every problem at once, each as a *protocols.FieldError
// naming the key, joined with errors.Join. It does not modify c.
func (c *Config) Validate() error {
	var errs []error
	if _, err := tcpAddress(c.URL); err != nil {
		errs = append(errs, &protocols.FieldError{Field: "url", Err: err})
	}
	if c.UnitID < 0 || c.UnitID > maxUnitID {
		errs = append(errs, protocols.FieldErrorf("unit_id", "must be 0..%d, got %d", maxUnitID, c.UnitID))
	}
	if len(c.Points) == 0 {
		errs = append(errs, protocols.FieldErrorf("points", "at least one point is required"))
	}
	seen := make(map[string]int, len(c.Points))
	for i, p := range c.Points {
		path := fmt.Sprintf("points[%d]", i)
		if p.Name != "" {
			if first, dup := seen[p.Name]; dup {
				errs = append(errs, protocols.FieldErrorf(protocols.Nested(path, "name"),
					"duplicate name %q (also points[%d])", p.Name, first))
			} else {
				seen[p.Name] = i
			}
		}
		errs = append(errs, p.validate(path)...)
	}
	return errors.Join(errs...)
}

// validate checks one point in isolation; path is its key, e.g. "points[2]".
func (p *Point) validate(path string) []error {
	var errs []error
	field := func(key, format string, args ...any) {
		errs = append(errs, protocols.FieldErrorf(protocols.Nested(path, key), format, args...))
	}
	if strings.TrimSpace(p.Name) == "" {
		field("name", "is required")
	}
	if p.Scale != nil {
		if s := *p.Scale; s == 0 || math.IsNaN(s) || math.IsInf(s, 0) {
			field("scale", "must be a finite non-zero number, got %v", s)
		}
	}
	if math.IsNaN(p.Offset) || math.IsInf(p.Offset, 0) {
		field("offset", "must be a finite number, got %v", p.Offset)
	}

	kind, ok := parseRegisterKind(p.Register)
	if !ok {
		if p.Register == "" {
			field("register", "is required (holding, input, coil or discrete)")
		} else {
			field("register", "unknown register %q (want holding, input, coil or discrete)", p.Register)
		}
		return errs // type and order depend on the register kind
	}

	if kind.isBit() {
		if p.Type != "" && !strings.EqualFold(p.Type, "bool") {
			field("type", "%s points are bool, got %q", kind, p.Type)
		}
		if p.Order != "" {
			field("order", "applies to register points only, not %s", kind)
		}
		return errs
	}

	typ, ok := parseDataType(p.Type)
	switch {
	case p.Type == "":
		field("type", "is required for %s registers", kind)
	case !ok:
		field("type", "unknown type %q (want int16, uint16, int32, uint32, int64, uint64, float32 or float64)", p.Type)
	case typ == typeBool:
		field("type", "bool is for coil and discrete points, not %s registers", kind)
	default:
		if last := int(p.Address) + typ.words() - 1; last > math.MaxUint16 {
			field("address", "%s at %d runs past register 65535", typ, p.Address)
		}
	}
	if p.Order != "" {
		if _, ok := parseByteOrder(p.Order); !ok {
			field("order", "unknown order %q (want ABCD, DCBA, BADC or CDAB)", p.Order)
		}
	}
	return errs
}

// tcpAddress turns "tcp://host[:port]" into "host:port".
func tcpAddress(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("is required (tcp://host:port)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("invalid URL: %w", err)
	}
	if u.Scheme != "tcp" {
		return "", fmt.Errorf("unsupported scheme %q (only tcp://host:port)", u.Scheme)
	}
	if u.Path != "" || u.RawQuery != "" || u.User != nil {
		return "", fmt.Errorf("%q: only tcp://host:port is allowed", raw)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return "", fmt.Errorf("%q has no host", raw)
	}
	if port == "" {
		port = DefaultPort
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > math.MaxUint16 {
		return "", fmt.Errorf("invalid port %q", port)
	}
	return net.JoinHostPort(host, port), nil
}
