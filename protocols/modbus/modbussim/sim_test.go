package modbussim

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/simonvetter/modbus"
)

func TestTick(t *testing.T) {
	s, err := Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	s.SetHolding(HoldingCycleCount, 0xFFFF, 0x0000) // CDAB 65535
	for range 10 {
		s.Tick()
	}
	s.mu.Lock()
	lo, hi := s.holding[HoldingCycleCount], s.holding[HoldingCycleCount+1]
	door, running := s.discrete[DiscreteDoorOpen], s.coils[CoilRunning]
	s.mu.Unlock()
	if got := uint32(hi)<<16 | uint32(lo); got != 65545 {
		t.Errorf("cycle_count %d after 10 ticks from 65535, want 65545", got)
	}
	if !door || !running {
		t.Errorf("door_open %v running %v after 10 ticks, want true true", door, running)
	}
	for range 10 {
		s.Tick()
	}
	s.mu.Lock()
	door = s.discrete[DiscreteDoorOpen]
	s.mu.Unlock()
	if door {
		t.Error("door_open still true after 20 ticks")
	}
}

func TestHandlerAddresses(t *testing.T) {
	s, err := Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := &handler{s: s}

	regs, err := h.HandleHoldingRegisters(&modbus.HoldingRegistersRequest{Addr: HoldingPressure, Quantity: 1})
	if err != nil || len(regs) != 1 || regs[0] != 420 {
		t.Errorf("pressure read = %v, %v; want [420]", regs, err)
	}
	_, err = h.HandleHoldingRegisters(&modbus.HoldingRegistersRequest{Addr: 5, Quantity: 2})
	if !errors.Is(err, modbus.ErrIllegalDataAddress) {
		t.Errorf("read past demo block: err %v, want illegal data address", err)
	}
	_, err = h.HandleInputRegisters(&modbus.InputRegistersRequest{Addr: 500, Quantity: 1})
	if !errors.Is(err, modbus.ErrIllegalDataAddress) {
		t.Errorf("unmapped input: err %v, want illegal data address", err)
	}
	_, err = h.HandleCoils(&modbus.CoilsRequest{Addr: 0, Quantity: 2, IsWrite: true, Args: []bool{false, true}})
	if !errors.Is(err, modbus.ErrIllegalDataAddress) {
		t.Errorf("write to unmapped coil: err %v, want illegal data address", err)
	}
	if bits, _ := h.HandleCoils(&modbus.CoilsRequest{Addr: 0, Quantity: 1}); len(bits) != 1 || !bits[0] {
		t.Errorf("failed write changed coil 0: %v", bits)
	}
	if _, err := h.HandleHoldingRegisters(&modbus.HoldingRegistersRequest{Addr: 5, Quantity: 1, IsWrite: true, Args: []uint16{7}}); err != nil {
		t.Errorf("write to mapped register: %v", err)
	}
}

func TestRun(t *testing.T) {
	s, err := Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	s.Run(ctx, 5*time.Millisecond) // returns when ctx ends
	s.mu.Lock()
	ticks := s.ticks
	s.mu.Unlock()
	if ticks == 0 {
		t.Error("Run did not tick")
	}
}
