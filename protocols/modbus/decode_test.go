package modbus

import (
	"encoding/hex"
	"math"
	"strings"
	"testing"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

var identity = scaling{scale: 1}

// TestDecodeTypesAndOrders covers every register type in every order with
// byte patterns written out by hand as they arrive on the wire.
func TestDecodeTypesAndOrders(t *testing.T) {
	f32 := 123.456 // 0x42F6E979, widened via its shortest decimal form
	tests := []struct {
		typ   string
		order string
		wire  string
		want  any
	}{
		// int16 -300 = 0xFED4; one word, so CDAB keeps and DCBA swaps.
		{"int16", "ABCD", "FED4", int64(-300)},
		{"int16", "CDAB", "FED4", int64(-300)},
		{"int16", "BADC", "D4FE", int64(-300)},
		{"int16", "DCBA", "D4FE", int64(-300)},
		// uint16 0x1234 = 4660
		{"uint16", "ABCD", "1234", int64(4660)},
		{"uint16", "CDAB", "1234", int64(4660)},
		{"uint16", "BADC", "3412", int64(4660)},
		{"uint16", "DCBA", "3412", int64(4660)},
		{"uint16", "ABCD", "FFFF", int64(65535)},
		// int32 -2 = FF FF FF FE
		{"int32", "ABCD", "FFFF FFFE", int64(-2)},
		{"int32", "DCBA", "FEFF FFFF", int64(-2)},
		{"int32", "BADC", "FFFF FEFF", int64(-2)},
		{"int32", "CDAB", "FFFE FFFF", int64(-2)},
		// uint32 0xDEADBEEF = 3735928559
		{"uint32", "ABCD", "DEAD BEEF", int64(3735928559)},
		{"uint32", "DCBA", "EFBE ADDE", int64(3735928559)},
		{"uint32", "BADC", "ADDE EFBE", int64(3735928559)},
		{"uint32", "CDAB", "BEEF DEAD", int64(3735928559)},
		// float32 123.456 = 42 F6 E9 79
		{"float32", "ABCD", "42F6 E979", f32},
		{"float32", "DCBA", "79E9 F642", f32},
		{"float32", "BADC", "F642 79E9", f32},
		{"float32", "CDAB", "E979 42F6", f32},
		// int64 0x0102030405060708 = 72623859790382856
		{"int64", "ABCD", "0102 0304 0506 0708", int64(72623859790382856)},
		{"int64", "DCBA", "0807 0605 0403 0201", int64(72623859790382856)},
		{"int64", "BADC", "0201 0403 0605 0807", int64(72623859790382856)},
		{"int64", "CDAB", "0708 0506 0304 0102", int64(72623859790382856)},
		// int64 -2
		{"int64", "ABCD", "FFFF FFFF FFFF FFFE", int64(-2)},
		{"int64", "DCBA", "FEFF FFFF FFFF FFFF", int64(-2)},
		{"int64", "BADC", "FFFF FFFF FFFF FEFF", int64(-2)},
		{"int64", "CDAB", "FFFE FFFF FFFF FFFF", int64(-2)},
		// uint64 0x7FEEDDCCBBAA9988 (largest byte below the sign bit)
		{"uint64", "ABCD", "7FEE DDCC BBAA 9988", int64(0x7FEEDDCCBBAA9988)},
		{"uint64", "DCBA", "8899 AABB CCDD EE7F", int64(0x7FEEDDCCBBAA9988)},
		{"uint64", "BADC", "EE7F CCDD AABB 8899", int64(0x7FEEDDCCBBAA9988)},
		{"uint64", "CDAB", "9988 BBAA DDCC 7FEE", int64(0x7FEEDDCCBBAA9988)},
		// float64 123.456 = 40 5E DD 2F 1A 9F BE 77
		{"float64", "ABCD", "405E DD2F 1A9F BE77", 123.456},
		{"float64", "DCBA", "77BE 9F1A 2FDD 5E40", 123.456},
		{"float64", "BADC", "5E40 2FDD 9F1A 77BE", 123.456},
		{"float64", "CDAB", "BE77 1A9F DD2F 405E", 123.456},
	}
	for _, tc := range tests {
		t.Run(tc.typ+"/"+tc.order+"/"+tc.wire, func(t *testing.T) {
			typ, ok := parseDataType(tc.typ)
			if !ok {
				t.Fatalf("parseDataType(%q) failed", tc.typ)
			}
			order, ok := parseByteOrder(tc.order)
			if !ok {
				t.Fatalf("parseByteOrder(%q) failed", tc.order)
			}
			got, err := decodeRegisters(mustHex(t, tc.wire), typ, order, identity)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got != tc.want {
				t.Fatalf("got %#v (%T), want %#v (%T)", got, got, tc.want, tc.want)
			}
		})
	}
}

func TestDecodeScaling(t *testing.T) {
	tests := []struct {
		name string
		typ  dataType
		wire string
		sc   scaling
		want any
	}{
		{"uint16 centibar to bar", typeUint16, "01A4", scaling{scale: 0.01}, 4.2},
		{"int16 with offset", typeInt16, "FFF1", scaling{scale: 1, offset: 100}, 85.0},
		{"scale and offset", typeInt32, "0000 000A", scaling{scale: 0.5, offset: -1}, 4.0},
		{"float identity stays float", typeFloat32, "3FC0 0000", identity, 1.5},
		{"float scaled", typeFloat32, "3FC0 0000", scaling{scale: 2, offset: 1}, 4.0},
		{"scale 1 with offset gives float", typeUint16, "0001", scaling{scale: 1, offset: 0.5}, 1.5},
		{"uint64 above int64 scaled is float", typeUint64, "FFFF FFFF FFFF FFFF", scaling{scale: 0.5}, float64(math.MaxUint64) * 0.5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeRegisters(mustHex(t, tc.wire), tc.typ, orderABCD, tc.sc)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			f, ok := got.(float64)
			want := tc.want.(float64)
			if !ok || math.Abs(f-want) > 1e-9*math.Max(1, math.Abs(want)) {
				t.Fatalf("got %#v (%T), want %v", got, got, want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		typ    dataType
		wire   string
		sc     scaling
		reason string
	}{
		{"float32 NaN", typeFloat32, "7FC0 0000", identity, "not a finite number"},
		{"float32 +Inf", typeFloat32, "7F80 0000", identity, "not a finite number"},
		{"float64 -Inf", typeFloat64, "FFF0 0000 0000 0000", identity, "not a finite number"},
		{"float64 NaN scaled", typeFloat64, "7FF8 0000 0000 0001", scaling{scale: 2}, "not a finite number"},
		{"scaling overflows", typeFloat32, "7F7F FFFF", scaling{scale: 1e300}, "not a finite number"},
		{"uint64 overflow", typeUint64, "8000 0000 0000 0000", identity, "exceeds int64 range"},
		{"too few registers", typeFloat32, "42F6", identity, "needs 2 registers (4 bytes), got 2 bytes"},
		{"too many registers", typeUint16, "0001 0002", identity, "needs 1 registers (2 bytes), got 4 bytes"},
		{"odd byte count", typeInt64, "0102 0304 0506 07", identity, "needs 4 registers (8 bytes), got 7 bytes"},
		{"empty", typeInt16, "", identity, "needs 1 registers (2 bytes), got 0 bytes"},
		{"bool is not a register type", typeBool, "0001", identity, "not a numeric register type"},
		{"bit is not numeric", typeBit, "0001", identity, "not a numeric register type"},
		{"string is not numeric", typeString, "0001", identity, "not a numeric register type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeRegisters(mustHex(t, tc.wire), tc.typ, orderABCD, tc.sc)
			if err == nil {
				t.Fatalf("got %#v, want error containing %q", got, tc.reason)
			}
			if got != nil {
				t.Errorf("value %#v alongside error, want nil", got)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q, want it to contain %q", err, tc.reason)
			}
		})
	}
}

func TestBitAt(t *testing.T) {
	raw := []byte{0b1000_0101, 0b0000_0010}
	for i, want := range []bool{true, false, true, false, false, false, false, true, false, true} {
		got, err := bitAt(raw, i)
		if err != nil || got != want {
			t.Errorf("bitAt(%d) = %v, %v; want %v", i, got, err, want)
		}
	}
	for _, i := range []int{-1, 16, 100} {
		if _, err := bitAt(raw, i); err == nil {
			t.Errorf("bitAt(%d) succeeded, want error", i)
		}
	}
}

// TestValueOfLength checks that a response of the wrong size gives an
// error (a Bad sample) for the points it covers, not a panic or misread.
func TestValueOfLength(t *testing.T) {
	reg := point{name: "p", kind: kindHolding, addr: 10, typ: typeUint32, scale: identity}
	bit := point{name: "b", kind: kindCoil, addr: 3, typ: typeBool, scale: identity}
	tests := []struct {
		name string
		p    point
		raw  []byte
		want any // nil means an error is expected
	}{
		{"registers exact", reg, []byte{0, 1, 0, 0}, int64(65536)},
		{"registers short", reg, []byte{0, 1}, nil},
		{"registers long", reg, []byte{0, 1, 0, 0, 0, 0}, nil},
		{"registers empty", reg, nil, nil},
		{"bit set", bit, []byte{1}, true},
		{"bit clear", bit, []byte{0xFE}, false},
		{"bit empty", bit, nil, nil},
		{"bit too long", bit, []byte{1, 0}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := planReads([]point{tc.p}, nil, defaultLimits)[0]
			got, err := req.valueOf(tc.p, tc.raw)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("got %#v, want error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %#v, %v; want %#v", got, err, tc.want)
			}
		})
	}
}

func TestWiden32(t *testing.T) {
	for _, f := range []float32{0, -0.1, 123.456, 1e-45, math.MaxFloat32, -math.MaxFloat32, 16777217} {
		w := widen32(f)
		if float32(w) != f {
			t.Errorf("widen32(%v) = %v, which does not round-trip to float32", f, w)
		}
	}
	if w := widen32(0.1); w != 0.1 {
		t.Errorf("widen32(0.1) = %v, want 0.1", w)
	}
}

func TestDecodeRegisterBit(t *testing.T) {
	tests := []struct {
		wire  string
		order byteOrder
		bit   uint8
		want  bool
	}{
		{"8001", orderABCD, 0, true},
		{"8001", orderABCD, 15, true},
		{"8001", orderABCD, 1, false},
		{"0100", orderABCD, 8, true},
		// A device sending the low byte first: BADC (and DCBA, the same
		// on one register) swaps before the bit is taken.
		{"0100", orderBADC, 0, true},
		{"0100", orderDCBA, 0, true},
		{"0100", orderBADC, 8, false},
		{"0100", orderCDAB, 8, true},
	}
	for _, tc := range tests {
		got, err := decodeRegisterBit(mustHex(t, tc.wire), tc.order, tc.bit)
		if err != nil || got != tc.want {
			t.Errorf("bit %d of %s in %s = %v, %v; want %v", tc.bit, tc.wire, tc.order, got, err, tc.want)
		}
	}
	for _, bad := range []struct {
		wire string
		bit  uint8
	}{{"", 0}, {"01", 0}, {"0102 0304", 0}, {"0001", 16}} {
		if _, err := decodeRegisterBit(mustHex(t, bad.wire), orderABCD, bad.bit); err == nil {
			t.Errorf("bit %d of %q succeeded, want error", bad.bit, bad.wire)
		}
	}
}

func TestDecodeString(t *testing.T) {
	tests := []struct {
		name  string
		wire  string
		order byteOrder
		regs  int
		want  string
	}{
		{"high byte first", "5761 5443 6861 696E", orderABCD, 4, "WaTChain"},
		{"low byte first", "6157 4354 6168 6E69", orderBADC, 4, "WaTChain"},
		{"NUL padded", "4142 4300 0000", orderABCD, 3, "ABC"},
		{"ends at first NUL", "4100 4243", orderABCD, 2, "A"},
		{"space padded both sides", "2041 4220 2020", orderABCD, 3, "AB"},
		{"empty", "0000 0000", orderABCD, 2, ""},
		{"UTF-8", "C3A4 6800", orderABCD, 2, "\u00e4h"},
		{"word order reversed", "4344 4142", orderCDAB, 2, "ABCD"},
		{"fully reversed", "4443 4241", orderDCBA, 2, "ABCD"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeString(mustHex(t, tc.wire), tc.order, tc.regs)
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	for _, bad := range []struct {
		name, wire, reason string
		regs               int
	}{
		{"short", "4142", "needs 4 bytes", 2},
		{"odd", "414243", "needs 4 bytes", 2},
		{"zero registers", "", "needs 0 bytes", 0},
		{"Latin-1", "B041", "not valid UTF-8 (bytes b041)", 1},
	} {
		if got, err := decodeString(mustHex(t, bad.wire), orderABCD, bad.regs); err == nil || !strings.Contains(err.Error(), bad.reason) {
			t.Errorf("%s: got %q, %v; want error containing %q", bad.name, got, err, bad.reason)
		}
	}
}
