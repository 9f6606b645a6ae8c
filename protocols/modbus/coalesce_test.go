package modbus_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wotchain/wotchain/protocols/modbus"
	"github.com/wotchain/wotchain/protocols/modbus/modbussim"
)

// gappyLayout has points with gaps, a string, a block that crosses the
// 125-register limit, and coils that cross the 2000-bit limit.
func gappyLayout() []modbus.Point {
	h := func(name string, addr uint16, typ string) modbus.Point {
		return modbus.Point{Name: name, Register: "holding", Address: addr, Type: typ}
	}
	c := func(addr uint16) modbus.Point {
		return modbus.Point{Name: fmt.Sprintf("coil%d", addr), Register: "coil", Address: addr}
	}
	return []modbus.Point{
		h("a", 0, "float32"), // 0-1
		h("b", 2, "uint16"),  // adjacent
		h("c", 6, "int16"),   // 3 unused before it
		{Name: "s", Register: "holding", Address: 20, Type: "string", Length: 10}, // 20-29, 13 unused before it
		h("d", 200, "uint16"), // 200 .. 324 is exactly 125 registers
		h("e", 323, "uint32"), // 323-324
		h("f", 325, "uint16"), // one past the limit
		{Name: "i", Register: "input", Address: 5, Type: "uint16"},
		c(0), c(1), c(1999), c(2000), c(2010),
	}
}

func mapAll(sim *modbussim.Sim) {
	u := sim.Unit(1)
	u.SetHolding(0, make([]uint16, 400)...)
	u.SetInput(0, make([]uint16, 10)...)
	u.SetCoils(0, make([]bool, 2100)...)
}

func requestRanges(reqs []modbussim.Request) []string {
	out := make([]string, len(reqs))
	for i, r := range reqs {
		out[i] = fmt.Sprintf("%s %d+%d", r.Table, r.Addr, r.Quantity)
	}
	return out
}

// TestCoalescing checks the exact requests a poll sends for a layout with
// gaps and with blocks crossing the 125-register and 2000-bit limits, for
// several max_gap values and a device-specific max_registers.
func TestCoalescing(t *testing.T) {
	tests := []struct {
		name    string
		maxGap  int
		maxRegs int
		maxBits int
		want    []string
	}{
		{"adjacent only", 0, 0, 0, []string{
			"holding 0+3", "holding 6+1", "holding 20+10", "holding 200+1", "holding 323+3",
			"input 5+1", "coil 0+2", "coil 1999+2", "coil 2010+1"}},
		{"gap 3", 3, 0, 0, []string{
			"holding 0+7", "holding 20+10", "holding 200+1", "holding 323+3",
			"input 5+1", "coil 0+2", "coil 1999+2", "coil 2010+1"}},
		{"gap 200: registers meet the 125 limit", 200, 0, 0, []string{
			"holding 0+30", "holding 200+125", "holding 325+1",
			"input 5+1", "coil 0+2", "coil 1999+12"}},
		{"gap 1999: bits meet the 2000 limit", 1999, 0, 0, []string{
			"holding 0+30", "holding 200+125", "holding 325+1",
			"input 5+1", "coil 0+2000", "coil 2000+11"}},
		{"gap 200 with max_registers 30", 200, 30, 0, []string{
			"holding 0+30", "holding 200+1", "holding 323+3",
			"input 5+1", "coil 0+2", "coil 1999+12"}},
		{"gap 1999 with max_bits 1000", 1999, 0, 1000, []string{
			"holding 0+30", "holding 200+125", "holding 325+1",
			"input 5+1", "coil 0+2", "coil 1999+12"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sim := startSim(t, "127.0.0.1:0")
			mapAll(sim)
			src := newSourceCfg(t, modbus.Config{URL: "tcp://" + sim.Addr(), UnitID: 1, Points: gappyLayout(),
				MaxGap: tc.maxGap, MaxRegisters: tc.maxRegs, MaxBits: tc.maxBits}, time.Second)
			for range 2 {
				got := poll(t, src)
				for name, s := range got {
					if s.Quality.String() != "good" {
						t.Errorf("%s: %s", name, s.Reason)
					}
				}
			}
			reqs := sim.Requests()
			if got, want := requestRanges(reqs), slices.Concat(tc.want, tc.want); !slices.Equal(got, want) {
				t.Fatalf("requests of two polls\n got %q\nwant %q", got, want)
			}
			if st := src.Stats(); st.RequestsLastPoll != len(tc.want) || st.RequestsTotal != uint64(2*len(tc.want)) {
				t.Errorf("stats %+v, want %d requests per poll and %d in all", st, len(tc.want), 2*len(tc.want))
			}
		})
	}
}

// TestCoalescingSplitsRefusedRequest checks that a merged request spanning
// an address the device does not map is split once, that the points are
// read, and that later polls use the split plan.
func TestCoalescingSplitsRefusedRequest(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	u := sim.Unit(1)
	u.SetHolding(0, 1, 2)    // 0-1; 2-4 unmapped
	u.SetHolding(5, 5, 6, 7) // 5-7
	u.SetHolding(20, 20)     // 20
	points := []modbus.Point{
		{Name: "r0", Register: "holding", Address: 0, Type: "uint16"},
		{Name: "r1", Register: "holding", Address: 1, Type: "uint16"},
		{Name: "r5", Register: "holding", Address: 5, Type: "uint16"},
		{Name: "r6", Register: "holding", Address: 6, Type: "uint32"},
		{Name: "r20", Register: "holding", Address: 20, Type: "uint16"},
		{Name: "missing", Register: "holding", Address: 30, Type: "uint16"},
	}
	src := newSourceCfg(t, modbus.Config{URL: "tcp://" + sim.Addr(), UnitID: 1, Points: points, MaxGap: 20}, time.Second)

	got := poll(t, src)
	checkGood(t, got, "r0", int64(1))
	checkGood(t, got, "r1", int64(2))
	checkGood(t, got, "r5", int64(5))
	checkGood(t, got, "r6", int64(6<<16|7))
	checkGood(t, got, "r20", int64(20))
	if s := got["missing"]; s.Quality.String() != "bad" {
		t.Errorf("missing: %+v, want Bad", s)
	}
	// 0+31 refused; runs 0+2, 5+3, 20+1 and 30+1 read (30 refused alone).
	first := []string{"holding 0+31", "holding 0+2", "holding 5+3", "holding 20+1", "holding 30+1"}
	if st := src.Stats(); st.RequestsLastPoll != len(first) {
		t.Errorf("first poll: %d requests, want %d", st.RequestsLastPoll, len(first))
	}
	poll(t, src)
	second := first[1:]
	if got, want := requestRanges(sim.Requests()), slices.Concat(first, second); !slices.Equal(got, want) {
		t.Fatalf("requests\n got %q\nwant %q", got, want)
	}
}
