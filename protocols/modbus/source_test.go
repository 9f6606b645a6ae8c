package modbus_test

import (
	"context"
	"errors"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wotchain/wotchain/internal/testserver"
	"github.com/wotchain/wotchain/protocols"
	"github.com/wotchain/wotchain/protocols/modbus"
	"github.com/wotchain/wotchain/protocols/modbus/modbussim"
)

const testTimeout = 500 * time.Millisecond

func startSim(t *testing.T, addr string) *modbussim.Sim {
	t.Helper()
	return testserver.Started(t, "simulator", func() (*modbussim.Sim, error) { return modbussim.Start(addr, nil) })
}

func newSource(t *testing.T, addr string, points ...modbus.Point) *modbus.Source {
	t.Helper()
	src, err := modbus.New(modbus.Config{URL: "tcp://" + addr, Points: points},
		protocols.Options{DeviceID: "sim", Timeout: testTimeout})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

func ptr[T any](v T) *T { return &v }

// demoPoints is the simulator's documented layout.
func demoPoints() []modbus.Point {
	return []modbus.Point{
		{Name: "temperature", Register: "holding", Address: modbussim.HoldingTemperature, Type: "float32", Order: "ABCD", Unit: "degC"},
		{Name: "pressure", Register: "holding", Address: modbussim.HoldingPressure, Type: "uint16", Scale: ptr(0.01), Unit: "bar"},
		{Name: "cycle_count", Register: "holding", Address: modbussim.HoldingCycleCount, Type: "uint32", Order: "CDAB"},
		{Name: "setpoint_offset", Register: "holding", Address: modbussim.HoldingSetpointOffset, Type: "int16"},
		{Name: "motor_current", Register: "input", Address: modbussim.InputMotorCurrent, Type: "float32", Unit: "A"},
		{Name: "running", Register: "coil", Address: modbussim.CoilRunning},
		{Name: "door_open", Register: "discrete", Address: modbussim.DiscreteDoorOpen},
	}
}

func poll(t *testing.T, src *modbus.Source) map[string]protocols.Sample {
	t.Helper()
	samples, err := src.Poll(context.Background())
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	m := make(map[string]protocols.Sample, len(samples))
	for _, s := range samples {
		m[s.Point] = s
	}
	return m
}

func checkGood(t *testing.T, got map[string]protocols.Sample, name string, want any) {
	t.Helper()
	s, ok := got[name]
	switch {
	case !ok:
		t.Errorf("%s: no sample", name)
	case s.Quality != protocols.Good:
		t.Errorf("%s: quality %v (%s), want good", name, s.Quality, s.Reason)
	case !s.SourceTime.IsZero():
		t.Errorf("%s: SourceTime %v, want zero", name, s.SourceTime)
	default:
		if wf, isFloat := want.(float64); isFloat {
			if f, ok := s.Value.(float64); !ok || math.Abs(f-wf) > 1e-9 {
				t.Errorf("%s: value %#v, want %v", name, s.Value, wf)
			}
		} else if s.Value != want {
			t.Errorf("%s: value %#v (%T), want %#v (%T)", name, s.Value, s.Value, want, want)
		}
	}
}

func TestPollDemoLayout(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	src := newSource(t, sim.Addr(), demoPoints()...)

	// Start values, then explicit words that pin down every decode path.
	got := poll(t, src)
	checkGood(t, got, "temperature", 60.0)
	checkGood(t, got, "pressure", 4.2)
	checkGood(t, got, "cycle_count", int64(modbussim.CycleCountStart))
	checkGood(t, got, "setpoint_offset", int64(modbussim.SetpointOffset))
	checkGood(t, got, "motor_current", 12.0)
	checkGood(t, got, "running", true)
	checkGood(t, got, "door_open", false)
	if got["temperature"].Unit != "degC" || got["pressure"].Unit != "bar" {
		t.Errorf("units not carried: %+v", got)
	}

	sim.SetHolding(modbussim.HoldingTemperature, 0x42F6, 0xE979) // 123.456f
	sim.SetHolding(modbussim.HoldingPressure, 415)
	sim.SetHolding(modbussim.HoldingCycleCount, 0xBEEF, 0xDEAD) // CDAB
	sim.SetHolding(modbussim.HoldingSetpointOffset, 0xFFFE)
	sim.SetInput(modbussim.InputMotorCurrent, 0x4140, 0x0000) // 12.0f
	sim.SetCoil(modbussim.CoilRunning, false)
	sim.SetDiscrete(modbussim.DiscreteDoorOpen, true)
	got = poll(t, src)
	checkGood(t, got, "temperature", 123.456)
	checkGood(t, got, "pressure", 4.15)
	checkGood(t, got, "cycle_count", int64(0xDEADBEEF))
	checkGood(t, got, "setpoint_offset", int64(-2))
	checkGood(t, got, "motor_current", 12.0)
	checkGood(t, got, "running", false)
	checkGood(t, got, "door_open", true)
}

func TestPollFollowsTick(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	src := newSource(t, sim.Addr(), demoPoints()...)
	for range 10 {
		sim.Tick()
	}
	got := poll(t, src)
	checkGood(t, got, "cycle_count", int64(modbussim.CycleCountStart+10))
	checkGood(t, got, "door_open", true)
	checkGood(t, got, "running", true)
	for name, bounds := range map[string][2]float64{
		"temperature":   {58, 62},
		"pressure":      {4.15, 4.25},
		"motor_current": {11.5, 12.5},
	} {
		v, ok := got[name].Value.(float64)
		if !ok || v < bounds[0] || v > bounds[1] {
			t.Errorf("%s = %#v after 10 ticks, want within %v", name, got[name].Value, bounds)
		}
	}
}

func TestPollUnmappedAddressIsBad(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	points := append(demoPoints(),
		modbus.Point{Name: "missing", Register: "holding", Address: 1000, Type: "uint16"},
		modbus.Point{Name: "missing_coil", Register: "coil", Address: 7},
		// Reaches one register past the mapped demo block.
		modbus.Point{Name: "straddle", Register: "holding", Address: modbussim.HoldingSetpointOffset, Type: "uint32"},
	)
	src := newSource(t, sim.Addr(), points...)
	got := poll(t, src)
	if len(got) != len(points) {
		t.Fatalf("%d samples, want %d", len(got), len(points))
	}
	for _, name := range []string{"missing", "missing_coil", "straddle"} {
		s := got[name]
		if s.Quality != protocols.Bad || s.Value != nil || !strings.Contains(s.Reason, "illegal data address") {
			t.Errorf("%s: %+v, want Bad with illegal data address", name, s)
		}
	}
	checkGood(t, got, "temperature", 60.0)
	checkGood(t, got, "running", true)
	checkGood(t, got, "door_open", false)
}

func TestPollBadValueKeepsOthersGood(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	sim.SetHolding(10, 0x7FC0, 0x0000) // float32 NaN
	sim.SetHolding(12, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF)
	src := newSource(t, sim.Addr(), append(demoPoints(),
		modbus.Point{Name: "nan", Register: "holding", Address: 10, Type: "float32"},
		modbus.Point{Name: "huge", Register: "holding", Address: 12, Type: "uint64"},
	)...)
	got := poll(t, src)
	if s := got["nan"]; s.Quality != protocols.Bad || s.Value != nil || s.Reason != "not a finite number" {
		t.Errorf("nan: %+v", s)
	}
	if s := got["huge"]; s.Quality != protocols.Bad || s.Value != nil || !strings.Contains(s.Reason, "int64") {
		t.Errorf("huge: %+v", s)
	}
	checkGood(t, got, "pressure", 4.2)
}

func TestPollReconnectsAfterDeviceRestart(t *testing.T) {
	sim, err := modbussim.Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := sim.Addr()
	src := newSource(t, addr, demoPoints()...)
	poll(t, src)

	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Poll(context.Background()); err == nil {
		t.Fatal("Poll succeeded with the device down")
	} else if !strings.Contains(err.Error(), `"sim"`) {
		t.Errorf("error %q does not name the device", err)
	}

	if st := src.Stats(); st.Connected || st.Reconnects != 0 {
		t.Errorf("stats with the device down: %+v, want not connected and no reconnect yet", st)
	}

	sim2 := startSim(t, addr)
	sim2.SetHolding(modbussim.HoldingPressure, 333)
	got := poll(t, src)
	checkGood(t, got, "pressure", 3.33)
	if st := src.Stats(); !st.Connected || st.Reconnects != 1 {
		t.Errorf("stats after the restart: %+v, want connected with 1 reconnect", st)
	}
}

// TestReconnectAfterGatewayRestart stops the simulator behind an RTU-over-TCP
// gateway and the gateway itself, and starts both again on the same ports.
func TestReconnectAfterGatewayRestart(t *testing.T) {
	sim, err := modbussim.Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	simAddr := sim.Addr()
	gw := modbussim.NewGateway(simAddr, nil)
	gwAddr, err := gw.Listen("127.0.0.1:0", modbussim.FramingRTU)
	if err != nil {
		t.Fatal(err)
	}
	points := []modbus.Point{{Name: "pressure", Register: "holding", Address: modbussim.HoldingPressure, Type: "uint16"}}
	src := newSourceCfg(t, modbus.Config{URL: "rtutcp://" + gwAddr, Points: points}, testTimeout)
	checkGood(t, poll(t, src), "pressure", int64(420))

	_ = gw.Close()
	_ = sim.Close()
	if _, err := src.Poll(context.Background()); err == nil {
		t.Fatal("Poll succeeded with the gateway down")
	}
	sim2 := startSim(t, simAddr)
	sim2.SetHolding(modbussim.HoldingPressure, 433)
	gw2 := modbussim.NewGateway(simAddr, nil)
	t.Cleanup(func() { _ = gw2.Close() })
	if _, err := gw2.Listen(gwAddr, modbussim.FramingRTU); err != nil {
		t.Fatal(err)
	}
	checkGood(t, poll(t, src), "pressure", int64(433))
	if st := src.Stats(); !st.Connected || st.Reconnects != 1 {
		t.Errorf("stats after the restart: %+v, want connected with 1 reconnect", st)
	}
}

func TestDeviceDownAtStartup(t *testing.T) {
	addr := testserver.FreeAddr(t)
	src := newSource(t, addr, demoPoints()...) // New must not dial
	if _, err := src.Poll(context.Background()); err == nil {
		t.Fatal("Poll succeeded with no device")
	}
	startSim(t, addr)
	checkGood(t, poll(t, src), "running", true)
}

// TestPollTimeout uses a device that accepts connections but never answers.
func TestPollTimeout(t *testing.T) {
	addr := muteListener(t)
	src, err := modbus.New(modbus.Config{URL: "tcp://" + addr, Points: demoPoints()},
		protocols.Options{DeviceID: "mute", Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for range 2 { // each poll times out again on a fresh connection
		start := time.Now()
		_, err := src.Poll(context.Background())
		if err == nil {
			t.Fatal("Poll succeeded against a mute device")
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Poll took %v with a 100ms timeout", d)
		}
	}
	if st := src.Stats(); st.Connected || st.RequestsTotal != 2 || st.Reconnects != 1 {
		t.Errorf("stats %+v, want not connected, one request per poll, the second on a new connection", st)
	}
}

// muteListener accepts connections and never answers; it returns the address.
func muteListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return l.Addr().String()
}

// TestPollCancelInterruptsRequest cancels a poll blocked on a device that
// never answers, long before the request's own timeout.
func TestPollCancelInterruptsRequest(t *testing.T) {
	addr := muteListener(t)
	src, err := modbus.New(modbus.Config{URL: "tcp://" + addr, Points: demoPoints()},
		protocols.Options{DeviceID: "mute", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err = src.Poll(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Poll error %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("cancelled Poll took %v", d)
	}
}

// TestPause checks that pause spaces the requests of a poll.
func TestPause(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	points := demoPoints() // 4 requests: holding, input, coil, discrete
	timed := func(pause time.Duration) time.Duration {
		src := newSourceCfg(t, modbus.Config{URL: "tcp://" + sim.Addr(), Points: points, Pause: modbus.Duration(pause)}, testTimeout)
		poll(t, src) // connects; the first request waits for nothing
		start := time.Now()
		poll(t, src)
		return time.Since(start)
	}
	if d := timed(60 * time.Millisecond); d < 4*60*time.Millisecond {
		t.Errorf("poll of 4 requests with pause 60ms took %v, want at least 240ms", d)
	}
	if d := timed(0); d > 100*time.Millisecond {
		t.Errorf("poll of 4 requests without pause took %v", d)
	}
}

func TestPollContext(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	src := newSource(t, sim.Addr(), demoPoints()...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := src.Poll(ctx); err == nil {
		t.Fatal("Poll succeeded with a cancelled context")
	}
	poll(t, src) // the source is still usable
}

func TestPollAfterClose(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	src := newSource(t, sim.Addr(), demoPoints()...)
	poll(t, src)
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Poll(context.Background()); err == nil {
		t.Fatal("Poll succeeded after Close")
	}
}

func TestNewLeavesConfigAlone(t *testing.T) {
	cfg := modbus.Config{URL: "tcp://127.0.0.1:1", Points: []modbus.Point{{Name: "c", Register: "coil"}}}
	if _, err := modbus.New(cfg, protocols.Options{}); err != nil {
		t.Fatal(err)
	}
	if cfg.Points[0].Type != "" || cfg.UnitID != 0 {
		t.Fatalf("New modified the caller's config: %+v", cfg)
	}
}

func TestSerialPortMissing(t *testing.T) {
	src := newSourceCfg(t, modbus.Config{URL: "rtu:///dev/wotchain-no-such-tty?baud=9600", Points: demoPoints()}, testTimeout)
	_, err := src.Poll(context.Background())
	if err == nil || !strings.Contains(err.Error(), "/dev/wotchain-no-such-tty") || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("Poll on a missing serial port: %v, want a connect error naming the port", err)
	}
}
