package modbus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// errNotFinite is the reason given for NaN or infinite results.
var errNotFinite = errors.New("not a finite number")

// scaling is the linear conversion raw*scale + offset.
type scaling struct {
	scale  float64
	offset float64
}

// identity reports whether scaling leaves values unchanged, in which case
// integer types keep their exact integer value.
func (s scaling) identity() bool { return s.scale == 1 && s.offset == 0 }

// bitAt returns bit i of a coil or discrete-input response, which Modbus
// packs eight to a byte, least significant bit first.
func bitAt(raw []byte, i int) (bool, error) {
	if i < 0 || i/8 >= len(raw) {
		return false, fmt.Errorf("bit %d missing from %d-byte response", i, len(raw))
	}
	return raw[i/8]>>(i%8)&1 == 1, nil
}

// decodeRegisters interprets raw, the register bytes exactly as received
// (big-endian 16-bit words), as numeric type t stored in order o, and
// applies s. It returns int64 for integer types under identity scaling,
// float64 otherwise. Malformed input is an error, never a panic.
func decodeRegisters(raw []byte, t dataType, o byteOrder, s scaling) (any, error) {
	if !t.isNumeric() {
		return nil, fmt.Errorf("%s is not a numeric register type", t)
	}
	if want := 2 * t.words(); len(raw) != want {
		return nil, fmt.Errorf("%s needs %d registers (%d bytes), got %d bytes", t, t.words(), want, len(raw))
	}
	b := reorder(raw, o)

	var (
		i     int64 // exact value for integer types
		f     float64
		isInt = t.isInteger()
	)
	switch t {
	case typeInt16:
		i = int64(int16(binary.BigEndian.Uint16(b)))
	case typeUint16:
		i = int64(binary.BigEndian.Uint16(b))
	case typeInt32:
		i = int64(int32(binary.BigEndian.Uint32(b)))
	case typeUint32:
		i = int64(binary.BigEndian.Uint32(b))
	case typeInt64:
		i = int64(binary.BigEndian.Uint64(b))
	case typeUint64:
		u := binary.BigEndian.Uint64(b)
		if u > math.MaxInt64 {
			if s.identity() {
				return nil, fmt.Errorf("uint64 value %d exceeds int64 range", u)
			}
			// Scaled values are float64 anyway, so no wrap can happen.
			return finite(float64(u)*s.scale + s.offset)
		}
		i = int64(u)
	case typeFloat32:
		f = widen32(math.Float32frombits(binary.BigEndian.Uint32(b)))
	case typeFloat64:
		f = math.Float64frombits(binary.BigEndian.Uint64(b))
	}

	if isInt {
		if s.identity() {
			return i, nil
		}
		f = float64(i)
	}
	return finite(f*s.scale + s.offset)
}

// decodeRegisterBit returns bit n (0 = least significant) of one register.
// Orders that swap bytes (BADC, DCBA) swap them before the bit is taken, for
// devices that send the register low byte first.
func decodeRegisterBit(raw []byte, o byteOrder, n uint8) (bool, error) {
	if len(raw) != 2 {
		return false, fmt.Errorf("bit needs 1 register (2 bytes), got %d bytes", len(raw))
	}
	if n > 15 {
		return false, fmt.Errorf("bit %d is not in a 16-bit register", n)
	}
	return binary.BigEndian.Uint16(reorder(raw, o))>>n&1 == 1, nil
}

// decodeString reads text packed two characters per register. It ends at
// the first NUL, because devices pad fixed-length fields with NULs, and
// trims the spaces others pad with. Text that is not UTF-8 is refused rather
// than altered: the reading is evidence and must be what the device sent.
func decodeString(raw []byte, o byteOrder, registers int) (string, error) {
	if len(raw) != 2*registers || registers < 1 {
		return "", fmt.Errorf("string of %d registers needs %d bytes, got %d", registers, 2*registers, len(raw))
	}
	b := reorder(raw, o)
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	b = bytes.Trim(b, " ")
	if !utf8.Valid(b) {
		return "", fmt.Errorf("string is not valid UTF-8 (bytes %x)", b)
	}
	return string(b), nil
}

// finite rejects NaN and ±Inf, which also arise from extreme scaling.
func finite(f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, errNotFinite
	}
	return f, nil
}

// widen32 converts f to the float64 nearest its shortest decimal form, so a
// register holding 123.456f reads as 123.456 rather than 123.45600128173828
// (the extra digits are float32 rounding noise, not information).
func widen32(f float32) float64 {
	w := float64(f)
	if math.IsNaN(w) || math.IsInf(w, 0) {
		return w
	}
	v, err := strconv.ParseFloat(strconv.FormatFloat(w, 'g', -1, 32), 64)
	if err != nil {
		return w
	}
	return v
}

// reorder returns a copy of raw rearranged into big-endian value order.
// Every order is its own inverse, so the same swap maps received bytes to
// value bytes. A 16-bit value is one word, so CDAB equals ABCD and DCBA
// equals BADC there. An odd trailing byte is kept in place.
func reorder(raw []byte, o byteOrder) []byte {
	b := make([]byte, len(raw))
	n := len(raw) &^ 1
	copy(b, raw)
	switch o {
	case orderDCBA:
		for k := range n {
			b[k] = raw[n-1-k]
		}
	case orderBADC:
		for k := 0; k+1 < n; k += 2 {
			b[k], b[k+1] = raw[k+1], raw[k]
		}
	case orderCDAB:
		for k := 0; k+1 < n; k += 2 {
			b[k], b[k+1] = raw[n-2-k], raw[n-1-k]
		}
	}
	return b
}
