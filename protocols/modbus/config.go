// Package modbus polls Modbus devices over TCP, RTU on a serial line, and
// RTU framing over TCP, and turns register and bit values into
// protocols.Samples. Devices on one port share a connection through a Bus.
package modbus

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/wotchain/wotchain/internal/yamltime"
	"github.com/wotchain/wotchain/protocols"
)

// DefaultUnitID is applied by Defaults when unit_id is missing (zero).
const DefaultUnitID = 1

// maxUnitID is the highest unicast unit id the Modbus spec allows.
const maxUnitID = 247

// maxPause bounds pause: longer is a configuration mistake, not a device.
const maxPause = 10 * time.Second

// Config is the modbus section of one device's configuration.
type Config struct {
	// URL is tcp://host[:port], rtutcp://host[:port] (RTU frames through a
	// serial-to-Ethernet converter) or rtu:///dev/ttyX?baud=19200&parity=E&
	// data_bits=8&stop_bits=1 (parameters optional, these are the defaults).
	URL string `yaml:"url"`
	// UnitID is the Modbus unit (slave) id, 0..247. Defaults turns 0 into 1,
	// because a missing key decodes as 0 and most devices answer on unit 1.
	UnitID int `yaml:"unit_id"`
	// Pause is the least time between the end of the port's previous
	// request and each request to this device, for slow RTU devices.
	Pause Duration `yaml:"pause"`
	// MaxGap is how many unused registers (or bits) one request may read
	// between two points so that they are read together. 0 merges only
	// adjacent and overlapping points.
	MaxGap int `yaml:"max_gap"`
	// MaxRegisters and MaxBits cap one request, for devices that accept
	// less than the protocol's 125 registers or 2000 bits. 0 means the cap.
	MaxRegisters int     `yaml:"max_registers"`
	MaxBits      int     `yaml:"max_bits"`
	Points       []Point `yaml:"points"`
}

// Point is one value read from the device.
type Point struct {
	Name     string `yaml:"name"`
	Register string `yaml:"register"` // holding | input | coil | discrete
	Address  uint16 `yaml:"address"`  // zero-based protocol address
	// Type is int16 uint16 int32 uint32 int64 uint64 float32 float64 bit
	// string for registers, bool (the default) for coils and discrete
	// inputs.
	Type string `yaml:"type"`
	// Order is where the value's bytes sit: ABCD (default, big endian),
	// DCBA, BADC or CDAB. For strings, ABCD reads the high byte of each
	// register first and BADC the low byte. Registers only.
	Order string `yaml:"order"`
	// Bit is the bit (0 = least significant) of a type bit point.
	Bit *int `yaml:"bit"`
	// Length is the number of registers of a type string point (two
	// characters each).
	Length int      `yaml:"length"`
	Scale  *float64 `yaml:"scale"` // value = raw*scale + offset; nil means 1
	Offset float64  `yaml:"offset"`
	Unit   string   `yaml:"unit"`
}

// Duration is the YAML duration every configuration section uses.
type Duration = yamltime.Duration

// Defaults fills in the values a config may leave out. It is idempotent and
// leaves invalid values alone for Validate to report.
func (c *Config) Defaults() {
	c.UnitID = cmp.Or(c.UnitID, DefaultUnitID)
	c.MaxRegisters = cmp.Or(c.MaxRegisters, maxRegistersPerRequest)
	c.MaxBits = cmp.Or(c.MaxBits, maxBitsPerRequest)
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
// naming the key, joined with errors.Join. It does not modify c and accepts
// the zero values Defaults fills in.
func (c *Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, protocols.FieldErrorf(field, format, args...))
	}
	if _, err := parseEndpoint(c.URL); err != nil {
		errs = append(errs, &protocols.FieldError{Field: "url", Err: err})
	}
	if c.UnitID < 0 || c.UnitID > maxUnitID {
		add("unit_id", "must be 0..%d, got %d", maxUnitID, c.UnitID)
	}
	if p := c.Pause.D(); p < 0 || p > maxPause {
		add("pause", "must be 0..%v, got %v", maxPause, p)
	}
	if c.MaxGap < 0 || c.MaxGap >= maxBitsPerRequest {
		add("max_gap", "must be 0..%d, got %d", maxBitsPerRequest-1, c.MaxGap)
	}
	maxRegs := c.MaxRegisters
	if maxRegs == 0 {
		maxRegs = maxRegistersPerRequest
	} else if maxRegs < 1 || maxRegs > maxRegistersPerRequest {
		add("max_registers", "must be 1..%d, got %d", maxRegistersPerRequest, maxRegs)
		maxRegs = maxRegistersPerRequest
	}
	if c.MaxBits != 0 && (c.MaxBits < 1 || c.MaxBits > maxBitsPerRequest) {
		add("max_bits", "must be 1..%d, got %d", maxBitsPerRequest, c.MaxBits)
	}
	if len(c.Points) == 0 {
		add("points", "at least one point is required")
	}
	seen := make(map[string]int, len(c.Points))
	for i, p := range c.Points {
		path := fmt.Sprintf("points[%d]", i)
		if p.Name != "" {
			if first, dup := seen[p.Name]; dup {
				add(protocols.Nested(path, "name"), "duplicate name %q (also points[%d])", p.Name, first)
			} else {
				seen[p.Name] = i
			}
		}
		errs = append(errs, p.validate(path, maxRegs)...)
	}
	return errors.Join(errs...)
}

// validate checks one point in isolation; path is its key, e.g. "points[2]",
// and maxRegs the registers one request may read.
func (p *Point) validate(path string, maxRegs int) []error {
	e := &pointErrors{path: path}
	p.checkValue(e)
	kind, ok := p.checkRegister(e)
	if !ok {
		return e.errs // the other keys depend on the register kind
	}
	typ, typeOK := p.checkType(e, kind)
	p.checkTypeKeys(e, typ, typeOK, maxRegs)
	// Only a known size can run past the end of the address space.
	if typeOK {
		p.checkSize(e, kind, typ, maxRegs)
	}
	return e.errs
}

// pointErrors collects one point's problems, each naming its key under the
// point's path.
type pointErrors struct {
	path string
	errs []error
}

func (e *pointErrors) field(key, format string, args ...any) {
	e.errs = append(e.errs, protocols.FieldErrorf(protocols.Nested(e.path, key), format, args...))
}

// checkValue checks the name and the scaling, which every point has.
func (p *Point) checkValue(e *pointErrors) {
	if strings.TrimSpace(p.Name) == "" {
		e.field("name", "is required")
	}
	if p.Scale != nil {
		if s := *p.Scale; s == 0 || math.IsNaN(s) || math.IsInf(s, 0) {
			e.field("scale", "must be a finite non-zero number, got %v", s)
		}
	}
	if math.IsNaN(p.Offset) || math.IsInf(p.Offset, 0) {
		e.field("offset", "must be a finite number, got %v", p.Offset)
	}
}

func (p *Point) checkRegister(e *pointErrors) (registerKind, bool) {
	kind, ok := parseRegisterKind(p.Register)
	switch {
	case ok:
	case p.Register == "":
		e.field("register", "is required (holding, input, coil or discrete)")
	default:
		e.field("register", "unknown register %q (want holding, input, coil or discrete)", p.Register)
	}
	return kind, ok
}

// checkType decides the point's data type for its register kind: bit
// registers are always bool, a register point must name a register type.
// typeOK is false when the type is unusable, so the checks that depend on
// it are left out.
func (p *Point) checkType(e *pointErrors, kind registerKind) (typ dataType, typeOK bool) {
	typ, typeOK = parseDataType(p.Type)
	switch {
	case kind.isBit():
		if p.Type != "" && (!typeOK || typ != typeBool) {
			e.field("type", "%s points are bool, got %q", kind, p.Type)
		}
		if p.Order != "" {
			e.field("order", "applies to register points only, not %s", kind)
		}
		typ, typeOK = typeBool, true
	case p.Type == "":
		e.field("type", "is required for %s registers (%s)", kind, registerTypeNames)
	case !typeOK:
		e.field("type", "unknown type %q (want %s)", p.Type, registerTypeNames)
	case typ == typeBool:
		e.field("type", "bool is for coil and discrete points, not %s registers (use bit for one bit of a register)", kind)
		typeOK = false
	}
	if p.Order != "" && !kind.isBit() {
		if _, ok := parseByteOrder(p.Order); !ok {
			e.field("order", "unknown order %q (want ABCD, DCBA, BADC or CDAB)", p.Order)
		}
	}
	return typ, typeOK
}

// checkTypeKeys checks the keys that belong to one type only.
func (p *Point) checkTypeKeys(e *pointErrors, typ dataType, typeOK bool, maxRegs int) {
	if p.Bit != nil && (!typeOK || typ != typeBit) {
		e.field("bit", "applies to type bit only")
	} else if typ == typeBit && typeOK {
		switch {
		case p.Bit == nil:
			e.field("bit", "is required for type bit (0..15, 0 = least significant)")
		case *p.Bit < 0 || *p.Bit > 15:
			e.field("bit", "must be 0..15, got %d", *p.Bit)
		}
	}
	if p.Length != 0 && (!typeOK || typ != typeString) {
		e.field("length", "applies to type string only")
	} else if typ == typeString && typeOK {
		switch {
		case p.Length == 0:
			e.field("length", "is required for type string (registers, two characters each)")
		case p.Length < 0 || p.Length > maxRegs:
			e.field("length", "must be 1..%d registers (one request), got %d", maxRegs, p.Length)
		}
	}
	if typeOK && !typ.isNumeric() {
		if p.Scale != nil {
			e.field("scale", "applies to numeric types only, not %s", typ)
		}
		if p.Offset != 0 {
			e.field("offset", "applies to numeric types only, not %s", typ)
		}
	}
}

// checkSize checks that a point of a known type fits the address space and
// one request.
func (p *Point) checkSize(e *pointErrors, kind registerKind, typ dataType, maxRegs int) {
	size := typ.words()
	if typ == typeString {
		size = p.Length
	}
	if size > 0 && int(p.Address)+size-1 > math.MaxUint16 {
		e.field("address", "%s at %d runs past address 65535", typ, p.Address)
	}
	if typ != typeString && !kind.isBit() && size > maxRegs {
		e.field("type", "%s needs %d registers but max_registers is %d", typ, size, maxRegs)
	}
}
