package modbus

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/goburrow/modbus"

	"github.com/wotchain/wotchain/protocols"
)

// checkSample fails unless s is Good with one of the documented value types
// (finite floats, valid UTF-8 strings) or Bad with a reason and no value.
func checkSample(t *testing.T, s protocols.Sample) {
	t.Helper()
	switch s.Quality {
	case protocols.Good:
		switch v := s.Value.(type) {
		case int64, bool:
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("%s: non-finite Good value %v", s.Point, v)
			}
		case string:
			if !utf8.ValidString(v) {
				t.Fatalf("%s: invalid UTF-8 in Good value %q", s.Point, v)
			}
		default:
			t.Fatalf("%s: Good value of type %T", s.Point, s.Value)
		}
		if s.Reason != "" {
			t.Fatalf("%s: Good with reason %q", s.Point, s.Reason)
		}
	case protocols.Bad:
		if s.Value != nil || s.Reason == "" {
			t.Fatalf("%s: Bad sample %+v needs a reason and no value", s.Point, s)
		}
	default:
		t.Fatalf("%s: quality %v", s.Point, s.Quality)
	}
}

// FuzzDecode feeds arbitrary bytes, types, orders, bits, lengths and
// scalings through the decoding Poll uses; it must never panic and must give
// a valid Good sample or a Bad one with a reason.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0x42, 0xF6, 0xE9, 0x79}, "float32", "CDAB", 1.0, 0.0, uint16(0), uint8(0), uint16(0))
	f.Add([]byte{0xFF, 0xFF}, "int16", "DCBA", 0.1, 5.0, uint16(3), uint8(0), uint16(0))
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, "uint64", "BADC", 1.0, 0.0, uint16(65535), uint8(0), uint16(0))
	f.Add([]byte{0x01}, "bool", "", 1.0, 0.0, uint16(0), uint8(0), uint16(0))
	f.Add([]byte{0x80, 0x01}, "bit", "BADC", 1.0, 0.0, uint16(0), uint8(15), uint16(0))
	f.Add([]byte("WoTChain\x00\x00"), "string", "ABCD", 1.0, 0.0, uint16(0), uint8(0), uint16(5))
	f.Add([]byte{0xB0, 0x41}, "string", "BADC", 1.0, 0.0, uint16(7), uint8(0), uint16(1))
	f.Add([]byte{}, "coil", "XYZ", math.NaN(), math.Inf(1), uint16(1), uint8(99), uint16(200))
	f.Fuzz(func(t *testing.T, raw []byte, typName, orderName string, scale, offset float64, addr uint16, bit uint8, length uint16) {
		typ, ok := parseDataType(typName)
		if !ok {
			typ = dataType(len(typName)) // also exercise out-of-range enum values
		}
		order, ok := parseByteOrder(orderName)
		if !ok {
			order = byteOrder(len(orderName))
		}
		kind := kindHolding
		if typ == typeBool {
			kind = kindCoil
		}
		p := point{name: "fuzz", kind: kind, addr: addr, typ: typ, order: order, scale: scaling{scale, offset},
			bit: bit, length: length % 200}
		samples := make([]protocols.Sample, 1)
		for _, req := range planReads([]point{p}, nil, defaultLimits) {
			req.fill(samples, []point{p}, raw)
			checkSample(t, samples[0])
		}
		// The decoders directly, with any length.
		if v, err := decodeRegisters(raw, typ, order, scaling{scale, offset}); (err == nil) == (v == nil) {
			t.Fatalf("decodeRegisters: value %#v with error %v", v, err)
		}
		if s, err := decodeString(raw, order, int(length)); err == nil && !utf8.ValidString(s) {
			t.Fatalf("decodeString gave invalid UTF-8 %q", s)
		}
		_, _ = decodeRegisterBit(raw, order, bit)
	})
}

// FuzzReadRTUFrame reads a response to a request from arbitrary bytes: it
// must never panic, and a frame it accepts must be complete and fit RTU.
func FuzzReadRTUFrame(f *testing.F) {
	f.Add([]byte{1, 3, 0, 0, 0, 2, 0xC4, 0x0B}, []byte{1, 3, 4, 0x42, 0xF6, 0xE9, 0x79, 0, 0})
	f.Add([]byte{1, 1, 0, 0, 0, 10, 0, 0}, []byte{1, 0x81, 2, 0, 0})
	f.Add([]byte{2, 16, 0, 0, 0, 1, 2, 0, 7, 0, 0}, []byte{2, 16, 0, 0, 0, 1, 0, 0})
	f.Add([]byte{1, 3}, []byte{1, 3, 250})
	f.Fuzz(func(t *testing.T, req, stream []byte) {
		frame, err := readRTUFrame(bytes.NewReader(stream), req)
		if err != nil {
			if frame != nil {
				t.Fatal("frame alongside error")
			}
			return
		}
		if len(frame) < 5 || len(frame) > rtuMaxSize || !bytes.HasPrefix(stream, frame) {
			t.Fatalf("accepted frame % x from % x", frame, stream)
		}
		if frame[0] != req[0] || frame[1]&0x7F != req[1] {
			t.Fatalf("frame % x does not answer request % x", frame, req)
		}
	})
}

// FuzzReadMBAPFrame is the same for Modbus TCP framing.
func FuzzReadMBAPFrame(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 7, 1, 3, 4, 0x42, 0xF6, 0xE9, 0x79})
	f.Add([]byte{0, 1, 0, 0, 0, 1, 1})
	f.Add([]byte{0, 1, 0, 0, 0xFF, 0xFF, 1, 3})
	f.Fuzz(func(t *testing.T, stream []byte) {
		frame, err := readMBAPFrame(bytes.NewReader(stream), nil)
		if err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(frame[4:]))
		if len(frame) != 6+n || n < 2 || n > mbapMaxLength || !bytes.HasPrefix(stream, frame) {
			t.Fatalf("accepted frame % x from % x", frame, stream)
		}
	})
}

// fuzzPoints covers every table, every numeric type in every order, bits
// and strings, in one layout that plans to one request per table.
func fuzzPoints() []point {
	var pts []point
	addr := uint16(0)
	for _, typ := range []dataType{typeInt16, typeUint16, typeInt32, typeUint32, typeInt64, typeUint64, typeFloat32, typeFloat64} {
		for _, o := range []byteOrder{orderABCD, orderDCBA, orderBADC, orderCDAB} {
			pts = append(pts, point{name: "p", kind: kindHolding, addr: addr, typ: typ, order: o, scale: scaling{0.5, 1}})
			addr += uint16(typ.words())
		}
	}
	pts = append(pts,
		point{name: "b", kind: kindInput, addr: 0, typ: typeBit, bit: 7, order: orderBADC},
		point{name: "s", kind: kindInput, addr: 1, typ: typeString, length: 4, order: orderABCD},
		point{name: "n", kind: kindInput, addr: 5, typ: typeFloat32, scale: identity},
		point{name: "c", kind: kindCoil, addr: 3, typ: typeBool},
		point{name: "d", kind: kindDiscrete, addr: 9, typ: typeBool},
	)
	return pts
}

// fakeLink replays stream as the device's side of a connection.
type fakeLink struct {
	io.Reader
	io.Writer
}

func (fakeLink) Close() error                { return nil }
func (fakeLink) SetDeadline(time.Time) error { return nil }

// FuzzResponse runs arbitrary device bytes through the whole response path:
// our framing, goburrow's packager and client, and the point decoding. It
// must never panic and every sample must be valid Good or Bad with a reason.
func FuzzResponse(f *testing.F) {
	points := fuzzPoints()
	plan := planReads(points, nil, defaultLimits)
	// Seed with valid responses for both framings.
	for _, tr := range []transport{transportTCP, transportRTU} {
		var stream []byte
		var pk modbus.Packager = modbus.NewTCPClientHandler("")
		if tr != transportTCP {
			pk = modbus.NewRTUClientHandler("")
		}
		for _, r := range plan {
			n := 2 * int(r.quantity)
			if r.kind.isBit() {
				n = (int(r.quantity) + 7) / 8
			}
			data := append([]byte{byte(n)}, bytes.Repeat([]byte{0x41}, n)...)
			adu, err := pk.Encode(&modbus.ProtocolDataUnit{FunctionCode: r.kind.functionCode(), Data: data})
			if err != nil {
				f.Fatal(err)
			}
			if tr == transportTCP {
				adu[6] = 1 // the unit; Encode used the handler's SlaveId 0
			}
			stream = append(stream, adu...)
		}
		f.Add(uint8(tr), stream) // RTU frames carry unit 0 from Encode, as the fuzz client asks

	}
	f.Add(uint8(transportRTU), []byte{0, 0x83, 2, 0xC0, 0xF1})
	f.Fuzz(func(t *testing.T, tr uint8, stream []byte) {
		tp, unit := transportTCP, byte(1)
		if tr%2 == 1 {
			tp, unit = transportRTU, 0
		}
		client, setUnit := newClient(tp, fakeLink{bytes.NewReader(stream), io.Discard})
		setUnit(unit)
		samples := make([]protocols.Sample, len(points))
		for _, r := range plan {
			raw, err := readItems(client, r)
			if err != nil {
				for _, k := range r.points {
					samples[k] = newSample(points[k], nil, err)
				}
				continue
			}
			r.fill(samples, points, raw)
		}
		for _, s := range samples {
			checkSample(t, s)
		}
	})
}

func TestFuzzSeedsDecode(t *testing.T) {
	// The valid seeds of FuzzResponse must decode Good; otherwise the fuzz
	// target would only ever explore error paths.
	points := fuzzPoints()
	plan := planReads(points, nil, defaultLimits)
	if len(plan) != 4 {
		t.Fatalf("fuzz layout plans to %d requests, want 4", len(plan))
	}
	pk := modbus.NewRTUClientHandler("")
	var stream []byte
	for _, r := range plan {
		n := 2 * int(r.quantity)
		if r.kind.isBit() {
			n = (int(r.quantity) + 7) / 8
		}
		adu, _ := pk.Encode(&modbus.ProtocolDataUnit{FunctionCode: r.kind.functionCode(),
			Data: append([]byte{byte(n)}, bytes.Repeat([]byte{0x41}, n)...)})
		stream = append(stream, adu...)
	}
	client, _ := newClient(transportRTU, fakeLink{bytes.NewReader(stream), io.Discard})
	samples := make([]protocols.Sample, len(points))
	for _, r := range plan {
		raw, err := readItems(client, r)
		if err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		r.fill(samples, points, raw)
	}
	for _, s := range samples {
		if s.Quality != protocols.Good {
			t.Errorf("%s: %s", s.Point, s.Reason)
		}
	}
	if s := samples[len(samples)-4]; s.Value != "AAAAAAAA" {
		t.Errorf("string point = %#v", s.Value)
	}
}
