// Package modbussim is an in-process simulated Modbus TCP device for tests
// and demos, built on github.com/simonvetter/modbus's server.
//
// Only addresses that have been set (by the demo layout or by Set*) exist;
// reading any other address gets the IllegalDataAddress exception, as a real
// device with a sparse register map would answer. Every unit id is served:
// with the demo layout, or with its own registers once Unit(id) was called.
// A Gateway in front of a Sim adds RTU framing and misbehaviour (silent
// units, late answers).
//
// Demo layout (the values Tick changes), for a config such as:
//
//	url: tcp://127.0.0.1:5020
//	points:
//	  - {name: temperature,     register: holding,  address: 0, type: float32, order: ABCD, unit: degC}
//	  - {name: pressure,        register: holding,  address: 2, type: uint16, scale: 0.01, unit: bar}
//	  - {name: cycle_count,     register: holding,  address: 3, type: uint32, order: CDAB}
//	  - {name: setpoint_offset, register: holding,  address: 5, type: int16}
//	  - {name: motor_current,   register: input,    address: 0, type: float32, order: ABCD, unit: A}
//	  - {name: running,         register: coil,     address: 0}
//	  - {name: door_open,       register: discrete, address: 0}
package modbussim

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"time"

	"github.com/simonvetter/modbus"

	"github.com/wotchain/wotchain/protocols"
)

// Demo point addresses; see the package comment for types and a config.
const (
	// HoldingTemperature: float32 ABCD in holding 0-1, degC, 60 ± 2 (sine
	// over 60 ticks, exactly 60 at start).
	HoldingTemperature uint16 = 0
	// HoldingPressure: uint16 in holding 2, centibar (scale 0.01 gives
	// bar), 420 ± 5 (sine over 45 ticks, exactly 420 at start).
	HoldingPressure uint16 = 2
	// HoldingCycleCount: uint32 CDAB in holding 3-4 (low word first),
	// starts at CycleCountStart and grows by one per Tick.
	HoldingCycleCount uint16 = 3
	// HoldingSetpointOffset: int16 in holding 5, constant SetpointOffset.
	HoldingSetpointOffset uint16 = 5
	// InputMotorCurrent: float32 ABCD in input 0-1, amps, 12 ± 0.5 (sine
	// over 30 ticks, exactly 12 at start).
	InputMotorCurrent uint16 = 0
	// CoilRunning: coil 0, always true.
	CoilRunning uint16 = 0
	// DiscreteDoorOpen: discrete input 0, false at start and toggling every
	// 10 ticks.
	DiscreteDoorOpen uint16 = 0
)

// Demo start values.
const (
	CycleCountStart = 70000 // above 65535 so a wrong word order shows
	SetpointOffset  = -15
)

// Sim is a running simulated device.
type Sim struct {
	srv  *modbus.ModbusServer
	addr string
	log  *slog.Logger

	mu       sync.Mutex
	ticks    uint64
	bank                     // the demo layout, served to units without their own
	units    map[uint8]*bank // units with their own registers
	requests []Request
}

// bank is one unit's four tables.
type bank struct {
	holding  map[uint16]uint16
	input    map[uint16]uint16
	coils    map[uint16]bool
	discrete map[uint16]bool
}

func newBank() bank {
	return bank{
		holding:  make(map[uint16]uint16),
		input:    make(map[uint16]uint16),
		coils:    make(map[uint16]bool),
		discrete: make(map[uint16]bool),
	}
}

// Request is one request the simulator served, for tests that count them.
type Request struct {
	Unit     uint8
	Table    string // holding, input, coil or discrete
	Addr     uint16
	Quantity uint16
	Write    bool
}

// Start listens on addr (host:port; port 0 picks a free port) and serves
// the demo layout at tick 0. A nil logger discards the server's log.
func Start(addr string, logger *slog.Logger) (*Sim, error) {
	logger = protocols.Logger(logger)
	s := &Sim{log: logger, bank: newBank(), units: make(map[uint8]*bank)}
	s.applyDemo()

	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("modbussim: address %q: %w", addr, err)
	}
	// simonvetter's server keeps its listener private, so with port 0 it
	// could not tell us which port it got. Instead we take a free port from
	// the kernel, release it and start the server on it. Another process
	// could grab the port in between, hence a few attempts.
	attempts := 1
	if port == "0" {
		attempts = 5
	}
	for i := 0; ; i++ {
		listen := addr
		if port == "0" {
			if listen, err = freePort(host); err != nil {
				return nil, err
			}
		}
		if err = s.serve(listen); err == nil {
			return s, nil
		}
		if i+1 >= attempts {
			return nil, err
		}
	}
}

func (s *Sim) serve(addr string) error {
	srv, err := modbus.NewServer(&modbus.ServerConfiguration{
		URL:        "tcp://" + addr,
		Timeout:    30 * time.Second, // idle client sessions
		MaxClients: 16,
		Logger:     slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}, &handler{s: s})
	if err != nil {
		return fmt.Errorf("modbussim: new server on %s: %w", addr, err)
	}
	if err := srv.Start(); err != nil {
		return fmt.Errorf("modbussim: listen on %s: %w", addr, err)
	}
	s.srv, s.addr = srv, addr
	return nil
}

func freePort(host string) (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("modbussim: find free port on %s: %w", host, err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("modbussim: release port %s: %w", addr, err)
	}
	return addr, nil
}

// Addr is the host:port the simulator listens on.
func (s *Sim) Addr() string { return s.addr }

// Close stops listening and drops every client connection.
func (s *Sim) Close() error {
	if err := s.srv.Stop(); err != nil {
		return fmt.Errorf("modbussim: stop %s: %w", s.addr, err)
	}
	return nil
}

// Unit returns unit id's own registers, empty at first. From the first call
// on, the unit no longer sees the demo layout.
func (s *Sim) Unit(id uint8) *Unit {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.units[id]
	if !ok {
		nb := newBank()
		b = &nb
		s.units[id] = b
	}
	return &Unit{s: s, b: b}
}

// bankFor returns the tables unit id reads; s.mu must be held.
func (s *Sim) bankFor(id uint8) *bank {
	if b, ok := s.units[id]; ok {
		return b
	}
	return &s.bank
}

// Requests returns the requests served so far, oldest first.
func (s *Sim) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ResetRequests forgets the requests served so far.
func (s *Sim) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// Unit is one unit's own registers in a Sim.
type Unit struct {
	s *Sim
	b *bank
}

// SetHolding maps the unit's holding registers addr, addr+1, ... to words.
func (u *Unit) SetHolding(addr uint16, words ...uint16) { setLocked(u.s, u.b, holding, addr, words) }

// SetInput maps the unit's input registers addr, addr+1, ... to words.
func (u *Unit) SetInput(addr uint16, words ...uint16) { setLocked(u.s, u.b, input, addr, words) }

// SetCoils maps the unit's coils addr, addr+1, ... to bits.
func (u *Unit) SetCoils(addr uint16, bits ...bool) { setLocked(u.s, u.b, coils, addr, bits) }

// SetDiscretes maps the unit's discrete inputs addr, addr+1, ... to bits.
func (u *Unit) SetDiscretes(addr uint16, bits ...bool) { setLocked(u.s, u.b, discrete, addr, bits) }

// SetHolding maps holding registers addr, addr+1, ... to words.
func (s *Sim) SetHolding(addr uint16, words ...uint16) { setLocked(s, &s.bank, holding, addr, words) }

// SetInput maps input registers addr, addr+1, ... to words.
func (s *Sim) SetInput(addr uint16, words ...uint16) { setLocked(s, &s.bank, input, addr, words) }

// SetCoil maps coil addr to v.
func (s *Sim) SetCoil(addr uint16, v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.coils[addr] = v
}

// SetDiscrete maps discrete input addr to v.
func (s *Sim) SetDiscrete(addr uint16, v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.discrete[addr] = v
}

// Tick advances the demo values one step. It overwrites the demo addresses,
// except that cycle_count is incremented from whatever it currently holds.
func (s *Sim) Tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ticks++
	s.applyDemo()
}

// Run calls Tick every interval until ctx is done.
func (s *Sim) Run(ctx context.Context, every time.Duration) {
	protocols.TickEvery(ctx, every, nil, s.Tick)
}

// applyDemo writes the demo values for the current tick; s.mu must be held
// (or s not yet shared).
func (s *Sim) applyDemo() {
	n := float64(s.ticks)
	wave := func(period float64) float64 { return math.Sin(2 * math.Pi * n / period) }

	setCells(s.holding, HoldingTemperature, float32Words(60+2*wave(60)))
	setCells(s.holding, HoldingPressure, []uint16{uint16(420 + math.Round(5*wave(45)))})

	cycles := uint32(CycleCountStart)
	if s.ticks > 0 {
		// CDAB: low word first.
		cycles = uint32(s.holding[HoldingCycleCount+1])<<16 | uint32(s.holding[HoldingCycleCount])
		cycles++
	}
	setCells(s.holding, HoldingCycleCount, []uint16{uint16(cycles), uint16(cycles >> 16)})

	offset := int16(SetpointOffset) // a variable: the constant has no uint16 form
	setCells(s.holding, HoldingSetpointOffset, []uint16{uint16(offset)})
	setCells(s.input, InputMotorCurrent, float32Words(12+0.5*wave(30)))
	s.coils[CoilRunning] = true
	s.discrete[DiscreteDoorOpen] = (s.ticks/10)%2 == 1
}

// float32Words encodes f as two big-endian words (ABCD).
func float32Words(f float64) []uint16 {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], math.Float32bits(float32(f)))
	return []uint16{binary.BigEndian.Uint16(b[:2]), binary.BigEndian.Uint16(b[2:])}
}

// setLocked maps cells addr, addr+1, ... of b's table to vs under s's lock.
func setLocked[T bool | uint16](s *Sim, b *bank, pick func(*bank) map[uint16]T, addr uint16, vs []T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	setCells(pick(b), addr, vs)
}

// setCells stores vs from addr on, dropping any that would pass 65535.
func setCells[T bool | uint16](m map[uint16]T, addr uint16, vs []T) {
	for i, v := range vs {
		a := int(addr) + i
		if a > math.MaxUint16 {
			return
		}
		m[uint16(a)] = v
	}
}
