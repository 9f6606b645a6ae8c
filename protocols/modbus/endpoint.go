package modbus

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
)

// DefaultPort is used when a tcp:// or rtutcp:// URL names no port.
const DefaultPort = "502"

// transport is how requests reach the device.
type transport uint8

const (
	transportTCP        transport = iota // Modbus TCP (MBAP header, transaction ids)
	transportRTUOverTCP                  // RTU frames (CRC, no transaction id) over a TCP stream
	transportRTU                         // RTU frames on a serial line
)

// serialSettings are the line settings of an rtu:// port.
type serialSettings struct {
	Baud     int
	Parity   string // N, E or O
	DataBits int
	StopBits int
}

// Modbus over serial line, section 2.5.1: 19200 baud, even parity is the
// required default.
var defaultSerial = serialSettings{Baud: 19200, Parity: "E", DataBits: 8, StopBits: 1}

// baudRates are the rates github.com/goburrow/serial can set on Linux.
var baudRates = []int{50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600,
	19200, 38400, 57600, 115200, 230400, 460800, 500000, 576000, 921600, 1000000}

func (s serialSettings) String() string {
	return fmt.Sprintf("%d %d%s%d", s.Baud, s.DataBits, s.Parity, s.StopBits)
}

// endpoint is a parsed device URL.
type endpoint struct {
	transport transport
	address   string // host:port, or the serial device path
	serial    serialSettings
}

// key identifies the physical port: every unit reached through the same key
// shares one connection and one lock.
func (e endpoint) key() string {
	switch e.transport {
	case transportRTUOverTCP:
		return "rtutcp://" + e.address
	case transportRTU:
		return "rtu://" + e.address
	}
	return "tcp://" + e.address
}

func (e endpoint) String() string {
	if e.transport == transportRTU {
		return e.key() + " (" + e.serial.String() + ")"
	}
	return e.key()
}

// isSerialBus reports whether units behind the endpoint are on a serial bus,
// where unit ids run 1..247 and a response carries no transaction id.
func (e endpoint) isSerialBus() bool { return e.transport != transportTCP }

// parseEndpoint accepts
//
//	tcp://host[:port]
//	rtutcp://host[:port]
//	rtu:///dev/ttyUSB0[?baud=19200&parity=E&data_bits=8&stop_bits=1]
//
// The serial settings live in the URL so that the same string configures a
// device and `wotchain scan modbus`.
func parseEndpoint(raw string) (endpoint, error) {
	if raw == "" {
		return endpoint{}, errors.New("is required (tcp://host:port, rtutcp://host:port or rtu:///dev/ttyX)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return endpoint{}, fmt.Errorf("invalid URL: %w", err)
	}
	if u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return endpoint{}, fmt.Errorf("%q: user info, opaque parts and fragments are not allowed", raw)
	}
	switch u.Scheme {
	case "tcp":
		addr, err := hostPort(raw, u)
		return endpoint{transport: transportTCP, address: addr}, err
	case "rtutcp":
		addr, err := hostPort(raw, u)
		return endpoint{transport: transportRTUOverTCP, address: addr}, err
	case "rtu":
		return serialEndpoint(raw, u)
	}
	return endpoint{}, fmt.Errorf("unsupported scheme %q (want tcp, rtutcp or rtu)", u.Scheme)
}

func hostPort(raw string, u *url.URL) (string, error) {
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", fmt.Errorf("%q: only %s://host:port is allowed", raw, u.Scheme)
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

func serialEndpoint(raw string, u *url.URL) (endpoint, error) {
	if u.Host != "" {
		return endpoint{}, fmt.Errorf("%q: the device path needs three slashes, e.g. rtu:///dev/ttyUSB0", raw)
	}
	if !path.IsAbs(u.Path) || path.Clean(u.Path) != u.Path || strings.HasSuffix(u.Path, "/") {
		return endpoint{}, fmt.Errorf("%q: want an absolute device path such as rtu:///dev/ttyUSB0", raw)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return endpoint{}, fmt.Errorf("%q: invalid parameters: %w", raw, err)
	}
	s := defaultSerial
	var errs []error
	for name, vals := range q {
		if len(vals) != 1 {
			errs = append(errs, fmt.Errorf("parameter %s given %d times", name, len(vals)))
			continue
		}
		if err := s.set(name, vals[0]); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return endpoint{}, fmt.Errorf("%q: %w", raw, errors.Join(errs...))
	}
	return endpoint{transport: transportRTU, address: u.Path, serial: s}, nil
}

// set applies one URL parameter.
func (s *serialSettings) set(name, v string) error {
	atoi := func() (int, error) {
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("parameter %s: %q is not a number", name, v)
		}
		return n, nil
	}
	switch name {
	case "baud":
		n, err := atoi()
		if err != nil {
			return err
		}
		if !slices.Contains(baudRates, n) {
			return fmt.Errorf("parameter baud: unsupported rate %d", n)
		}
		s.Baud = n
	case "parity":
		switch strings.ToUpper(v) {
		case "N", "NONE":
			s.Parity = "N"
		case "E", "EVEN":
			s.Parity = "E"
		case "O", "ODD":
			s.Parity = "O"
		default:
			return fmt.Errorf("parameter parity: %q (want N, E or O)", v)
		}
	case "data_bits":
		n, err := atoi()
		if err != nil {
			return err
		}
		if n != 7 && n != 8 {
			return fmt.Errorf("parameter data_bits: %d (want 8, or 7 for odd devices)", n)
		}
		s.DataBits = n
	case "stop_bits":
		n, err := atoi()
		if err != nil {
			return err
		}
		if n != 1 && n != 2 {
			return fmt.Errorf("parameter stop_bits: %d (want 1 or 2)", n)
		}
		s.StopBits = n
	default:
		return fmt.Errorf("unknown parameter %q (want baud, parity, data_bits, stop_bits)", name)
	}
	return nil
}
