package modbus_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/wotchain/wotchain/protocols"
	"github.com/wotchain/wotchain/protocols/modbus"
	"github.com/wotchain/wotchain/protocols/modbus/modbussim"
)

// testbed is a simulator reached through one transport.
type testbed struct {
	sim *modbussim.Sim
	gw  *modbussim.Gateway // nil when the client talks to the simulator directly
	url string
}

// transports are the ways a Source can reach a device, each against the
// same simulator: Modbus TCP directly, Modbus TCP and RTU-over-TCP through
// the gateway, and RTU on a serial line (a pseudo-terminal) where possible.
func transports(t *testing.T) []string {
	names := []string{"tcp", "tcp-gateway", "rtutcp"}
	if runtime.GOOS == "linux" {
		names = append(names, "rtu-pty")
	}
	return names
}

func startTestbed(t *testing.T, transport string) *testbed {
	t.Helper()
	sim := startSim(t, "127.0.0.1:0")
	tb := &testbed{sim: sim, url: "tcp://" + sim.Addr()}
	if transport == "tcp" {
		return tb
	}
	tb.gw = modbussim.NewGateway(sim.Addr(), nil)
	t.Cleanup(func() { _ = tb.gw.Close() })
	switch transport {
	case "tcp-gateway", "rtutcp":
		framing, scheme := modbussim.FramingTCP, "tcp://"
		if transport == "rtutcp" {
			framing, scheme = modbussim.FramingRTU, "rtutcp://"
		}
		addr, err := tb.gw.Listen("127.0.0.1:0", framing)
		if err != nil {
			t.Fatal(err)
		}
		tb.url = scheme + addr
	case "rtu-pty":
		path, err := tb.gw.ServePTY()
		if err != nil {
			t.Skipf("no pseudo-terminal for the RTU serial test: %v", err)
		}
		tb.url = "rtu://" + path + "?baud=115200&parity=N&stop_bits=2"
	default:
		t.Fatalf("unknown transport %q", transport)
	}
	return tb
}

// source creates a Source for unit on the testbed.
func (tb *testbed) source(t *testing.T, unit int, timeout time.Duration, points []modbus.Point, opts ...modbus.Option) *modbus.Source {
	t.Helper()
	return newSourceCfg(t, modbus.Config{URL: tb.url, UnitID: unit, Points: points}, timeout, opts...)
}

func newSourceCfg(t *testing.T, cfg modbus.Config, timeout time.Duration, opts ...modbus.Option) *modbus.Source {
	t.Helper()
	src, err := modbus.New(cfg, protocols.Options{DeviceID: fmt.Sprintf("unit%d", cfg.UnitID), Timeout: timeout}, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

// wireWords lays out value bytes (big endian, A B C D ...) in the
// registers as a device with the given order sends them. Written out
// independently of the decoder so that the two check each other.
func wireWords(be []byte, order string) []uint16 {
	b := slices.Clone(be)
	switch order {
	case "DCBA":
		slices.Reverse(b)
	case "BADC":
		for i := 0; i+1 < len(b); i += 2 {
			b[i], b[i+1] = b[i+1], b[i]
		}
	case "CDAB":
		words := make([][]byte, 0, len(b)/2)
		for i := 0; i+1 < len(b); i += 2 {
			words = append(words, b[i:i+2])
		}
		slices.Reverse(words)
		b = slices.Concat(words...)
	}
	out := make([]uint16, len(b)/2)
	for i := range out {
		out[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return out
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// wirePoint is one point of a layout, its register contents and its value.
type wirePoint struct {
	point modbus.Point
	words []uint16
	want  any
}

var orders = []string{"ABCD", "DCBA", "BADC", "CDAB"}

// typeLayout has every register type in every order, scaling, bits and
// strings, in table (holding or input) from address 0, packed without gaps.
func typeLayout(table string) []wirePoint {
	i16, i32, i64 := int16(-300), int32(-123456789), int64(-1234567890123456789)
	values := []struct {
		typ  string
		be   []byte
		want any
	}{
		{"int16", be16(uint16(i16)), int64(-300)},
		{"uint16", be16(65000), int64(65000)},
		{"int32", be32(uint32(i32)), int64(-123456789)},
		{"uint32", be32(0xDEADBEEF), int64(0xDEADBEEF)},
		{"int64", be64(uint64(i64)), int64(-1234567890123456789)},
		{"uint64", be64(0x7FEEDDCCBBAA9988), int64(0x7FEEDDCCBBAA9988)},
		{"float32", be32(math.Float32bits(123.456)), 123.456},
		{"float64", be64(math.Float64bits(-9876.54321)), -9876.54321},
	}
	var pts []wirePoint
	addr := uint16(0)
	add := func(p modbus.Point, words []uint16, want any) {
		p.Register, p.Address = table, addr
		if p.Name == "" {
			p.Name = fmt.Sprintf("%s_%s_%s", table, p.Type, p.Order)
		}
		pts = append(pts, wirePoint{point: p, words: words, want: want})
		addr += uint16(len(words))
	}
	for _, v := range values {
		for _, o := range orders {
			add(modbus.Point{Type: v.typ, Order: o}, wireWords(v.be, o), v.want)
		}
	}
	raw := int32(-4200)
	add(modbus.Point{Name: table + "_scaled", Type: "int32", Order: "CDAB", Scale: ptr(0.01), Offset: 1},
		wireWords(be32(uint32(raw)), "CDAB"), -41.0)
	// Four bit points read the same register: bits 0, 2 and 15 are set.
	status := uint16(0x8005)
	for _, bit := range []int{0, 1, 2, 15} {
		pts = append(pts, wirePoint{
			point: modbus.Point{Name: fmt.Sprintf("%s_bit%d", table, bit), Register: table, Address: addr, Type: "bit", Bit: ptr(bit)},
			words: []uint16{status}, want: status>>bit&1 == 1})
	}
	addr++
	add(modbus.Point{Name: table + "_bit_badc", Type: "bit", Bit: ptr(8), Order: "BADC"},
		wireWords(be16(0x0100), "BADC"), true)
	text := []byte("WoTChain-1\x00\x00\x00\x00\x00\x00")
	add(modbus.Point{Name: table + "_string", Type: "string", Length: 8}, wireWords(text, "ABCD"), "WoTChain-1")
	add(modbus.Point{Name: table + "_string_badc", Type: "string", Length: 8, Order: "BADC"}, wireWords(text, "BADC"), "WoTChain-1")
	return pts
}

// bitLayout has coils or discrete inputs from address 0.
func bitLayout(table string) []wirePoint {
	var pts []wirePoint
	for i, v := range []bool{true, false, true, true, false, false, false, true, true} {
		pts = append(pts, wirePoint{point: modbus.Point{Name: fmt.Sprintf("%s%d", table, i), Register: table, Address: uint16(i)}, want: v})
	}
	return pts
}

// load writes a layout into a simulator unit.
func load(u *modbussim.Unit, pts []wirePoint) {
	for _, p := range pts {
		switch p.point.Register {
		case "holding":
			u.SetHolding(p.point.Address, p.words...)
		case "input":
			u.SetInput(p.point.Address, p.words...)
		case "coil":
			u.SetCoils(p.point.Address, p.want.(bool))
		case "discrete":
			u.SetDiscretes(p.point.Address, p.want.(bool))
		}
	}
}

func fullLayout() []wirePoint {
	return slices.Concat(typeLayout("holding"), typeLayout("input"), bitLayout("coil"), bitLayout("discrete"))
}

func pointsOf(pts []wirePoint) []modbus.Point {
	out := make([]modbus.Point, len(pts))
	for i, p := range pts {
		out[i] = p.point
	}
	return out
}

// checkLayout polls src once and checks every point of the layout.
func checkLayout(t *testing.T, src *modbus.Source, pts []wirePoint) {
	t.Helper()
	got := poll(t, src)
	for _, p := range pts {
		checkGood(t, got, p.point.Name, p.want)
	}
}

// pollCtx polls with a deadline, so a hung test fails instead of hanging.
func pollCtx(src *modbus.Source, d time.Duration) ([]protocols.Sample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return src.Poll(ctx)
}
