package bench

import (
	"context"
	"fmt"
	"slices"
	"time"

	goburrow "github.com/goburrow/modbus"

	"github.com/wotchain/wotchain/protocols"
	"github.com/wotchain/wotchain/protocols/modbus"
	"github.com/wotchain/wotchain/protocols/modbus/modbussim"
)

// ModbusLayout is one device's point layout.
type ModbusLayout struct {
	Name   string
	MaxGap int
	Points []modbus.Point
}

// ExamplePlantLayout is the Modbus device of configs/example-plant.yaml
// (press-line-1); TestExamplePlantLayoutMatchesConfig keeps them equal.
func ExamplePlantLayout() ModbusLayout {
	return ModbusLayout{Name: "example-plant press-line-1", Points: []modbus.Point{
		{Name: "oil_temperature", Register: "holding", Address: 100, Type: "float32", Order: "CDAB", Unit: "degC"},
		{Name: "line_pressure", Register: "input", Address: 10, Type: "uint16", Scale: ptr(0.01), Unit: "bar"},
		{Name: "strokes", Register: "holding", Address: 200, Type: "uint32"},
		{Name: "motor_on", Register: "coil", Address: 0},
		{Name: "alarm", Register: "holding", Address: 7, Type: "bit", Bit: ptr(3)},
		{Name: "serial_no", Register: "holding", Address: 20, Type: "string", Length: 8},
	}}
}

// PressLineLayout is a representative press-line controller: twelve
// float32 temperatures and a status word of eight alarm bits in holding
// registers, ten pressures in input registers, sixteen valve coils and
// eight limit switches, and a few points elsewhere in the map with gaps of
// up to six registers between them (read together with max_gap 8).
func PressLineLayout() ModbusLayout {
	var pts []modbus.Point
	for i := range 12 {
		pts = append(pts, modbus.Point{Name: fmt.Sprintf("zone%02d_temperature", i), Register: "holding", Address: uint16(2 * i), Type: "float32", Unit: "degC"})
	}
	for bit := range 8 {
		pts = append(pts, modbus.Point{Name: fmt.Sprintf("alarm%d", bit), Register: "holding", Address: 24, Type: "bit", Bit: ptr(bit)})
	}
	for i := range 10 {
		pts = append(pts, modbus.Point{Name: fmt.Sprintf("pressure%02d", i), Register: "input", Address: uint16(i), Type: "uint16", Scale: ptr(0.01), Unit: "bar"})
	}
	for i := range 16 {
		pts = append(pts, modbus.Point{Name: fmt.Sprintf("valve%02d", i), Register: "coil", Address: uint16(i)})
	}
	for i := range 8 {
		pts = append(pts, modbus.Point{Name: fmt.Sprintf("limit%d", i), Register: "discrete", Address: uint16(i)})
	}
	for i, a := range []uint16{100, 104, 110, 112, 118} { // counters with gaps
		pts = append(pts, modbus.Point{Name: fmt.Sprintf("counter%d", i), Register: "holding", Address: a, Type: "uint32"})
	}
	return ModbusLayout{Name: "press line (59 points)", MaxGap: 8, Points: pts}
}

func ptr[T any](v T) *T { return &v }

// words is how many registers a register point occupies.
func words(p modbus.Point) int {
	switch p.Type {
	case "float32", "int32", "uint32":
		return 2
	case "float64", "int64", "uint64":
		return 4
	case "string":
		return p.Length
	}
	return 1
}

// load maps, in unit 1 of the simulator, every address of each table from
// the layout's lowest to its highest, as a device's register map usually
// is (a coalesced read may span the unused ones between points).
func (l ModbusLayout) load(sim *modbussim.Sim) {
	type span struct{ lo, hi int }
	spans := map[string]*span{}
	for _, p := range l.Points {
		end := int(p.Address) + words(p) - 1
		if sp, ok := spans[p.Register]; ok {
			sp.lo, sp.hi = min(sp.lo, int(p.Address)), max(sp.hi, end)
		} else {
			spans[p.Register] = &span{int(p.Address), end}
		}
	}
	u := sim.Unit(1)
	for table, sp := range spans {
		n := sp.hi - sp.lo + 1
		switch table {
		case "holding":
			u.SetHolding(uint16(sp.lo), make([]uint16, n)...)
		case "input":
			u.SetInput(uint16(sp.lo), make([]uint16, n)...)
		case "coil":
			u.SetCoils(uint16(sp.lo), make([]bool, n)...)
		case "discrete":
			u.SetDiscretes(uint16(sp.lo), make([]bool, n)...)
		}
	}
}

// ModbusRequests is the request count and time of one poll cycle of a
// layout, with coalescing (one Source, as the appliance polls) and without
// (every point read by its own request).
type ModbusRequests struct {
	Layout                     string
	Points                     int
	Coalesced, Uncoalesced     int           // requests per poll cycle
	CoalescedT, UncoalescedT   time.Duration // one poll cycle, median
	CoalescedOK, UncoalescedOK bool          // every sample Good
}

// MeasureModbusRequests polls the layout cycles times each way against an
// in-process simulator.
func MeasureModbusRequests(ctx context.Context, l ModbusLayout, cycles int) (ModbusRequests, error) {
	sim, err := modbussim.Start("127.0.0.1:0", nil)
	if err != nil {
		return ModbusRequests{}, err
	}
	defer sim.Close()
	l.load(sim)
	url := "tcp://" + sim.Addr()
	res := ModbusRequests{Layout: l.Name, Points: len(l.Points)}

	one, err := modbus.New(modbus.Config{URL: url, MaxGap: l.MaxGap, Points: l.Points}, protocols.Options{DeviceID: "coalesced", Timeout: 2 * time.Second})
	if err != nil {
		return res, err
	}
	defer one.Close()
	bus := modbus.NewBus()
	var each []*modbus.Source
	for _, p := range l.Points {
		s, err := modbus.New(modbus.Config{URL: url, Points: []modbus.Point{p}}, protocols.Options{DeviceID: p.Name, Timeout: 2 * time.Second}, modbus.WithBus(bus))
		if err != nil {
			return res, err
		}
		defer s.Close()
		each = append(each, s)
	}
	cycle := func(sources []*modbus.Source) (int, time.Duration, bool, error) {
		start := time.Now()
		requests, ok := 0, true
		for _, s := range sources {
			samples, err := s.Poll(ctx)
			if err != nil {
				return 0, 0, false, err
			}
			for _, sm := range samples {
				ok = ok && sm.Quality == protocols.Good
			}
			requests += s.Stats().RequestsLastPoll
		}
		return requests, time.Since(start), ok, nil
	}
	var tc, tu []time.Duration
	for range max(cycles, 1) {
		n, d, ok, err := cycle([]*modbus.Source{one})
		if err != nil {
			return res, err
		}
		res.Coalesced, res.CoalescedOK = n, ok
		tc = append(tc, d)
		if n, d, ok, err = cycle(each); err != nil {
			return res, err
		}
		res.Uncoalesced, res.UncoalescedOK = n, ok
		tu = append(tu, d)
	}
	res.CoalescedT, res.UncoalescedT = median(tc), median(tu)
	return res, nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return percentile(s, 0.5)
}

// ModbusRig is a simulator with one float32 point, for the per-request
// overhead of a Source against a bare goburrow client on the same device.
type ModbusRig struct {
	sim *modbussim.Sim
}

// StartModbusRig starts the simulator.
func StartModbusRig() (*ModbusRig, error) {
	sim, err := modbussim.Start("127.0.0.1:0", nil)
	if err != nil {
		return nil, err
	}
	sim.Unit(1).SetHolding(0, 0x42F6, 0xE979) // 123.456 as float32 ABCD
	return &ModbusRig{sim: sim}, nil
}

// Close stops the simulator.
func (r *ModbusRig) Close() { r.sim.Close() }

// Source measures one poll of a one-point Source (one request: read two
// holding registers, decode a float32, build the sample) per operation.
func (r *ModbusRig) Source(ctx context.Context) (*Workload, error) {
	src, err := modbus.New(modbus.Config{URL: "tcp://" + r.sim.Addr(), Points: []modbus.Point{
		{Name: "temperature", Register: "holding", Address: 0, Type: "float32", Unit: "degC"},
	}}, protocols.Options{DeviceID: "bench", Timeout: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	return &Workload{
		Name:    "modbus Source poll",
		Workers: 1,
		Op: func(int) (int, int, error) {
			s, err := src.Poll(ctx)
			if err == nil && (len(s) != 1 || s[0].Quality != protocols.Good) {
				err = fmt.Errorf("bad sample %+v", s)
			}
			r.sim.ResetRequests() // the simulator's request log would grow
			return 1, 0, err
		},
		Close: func() { src.Close() },
	}, nil
}

// Bare is the baseline: a bare goburrow TCP client reading the same two
// registers in a loop, no decoding.
func (r *ModbusRig) Bare() (*Workload, error) {
	h := goburrow.NewTCPClientHandler(r.sim.Addr())
	h.SlaveId = 1
	h.Timeout = 2 * time.Second
	if err := h.Connect(); err != nil {
		return nil, err
	}
	client := goburrow.NewClient(h)
	return &Workload{
		Name:    "bare goburrow read",
		Workers: 1,
		Op: func(int) (int, int, error) {
			b, err := client.ReadHoldingRegisters(0, 2)
			if err == nil && len(b) != 4 {
				err = fmt.Errorf("%d bytes", len(b))
			}
			r.sim.ResetRequests()
			return 1, 0, err
		},
		Close: func() { h.Close() },
	}, nil
}
