package modbussim

import "github.com/simonvetter/modbus"

// handler answers requests from the Sim's maps. It is a separate type so
// the Handle* methods stay out of Sim's API.
//
// Errors must be the library's own values, unwrapped: the server maps them
// to exception codes by equality.
type handler struct{ s *Sim }

var _ modbus.RequestHandler = (*handler)(nil)

func (h *handler) HandleCoils(req *modbus.CoilsRequest) ([]bool, error) {
	return serve(h.s, req.UnitId, "coil", req.Addr, req.Quantity, req.IsWrite, req.Args, coils)
}

func (h *handler) HandleDiscreteInputs(req *modbus.DiscreteInputsRequest) ([]bool, error) {
	return serve(h.s, req.UnitId, "discrete", req.Addr, req.Quantity, false, nil, discrete)
}

func (h *handler) HandleHoldingRegisters(req *modbus.HoldingRegistersRequest) ([]uint16, error) {
	return serve(h.s, req.UnitId, "holding", req.Addr, req.Quantity, req.IsWrite, req.Args, holding)
}

func (h *handler) HandleInputRegisters(req *modbus.InputRegistersRequest) ([]uint16, error) {
	return serve(h.s, req.UnitId, "input", req.Addr, req.Quantity, false, nil, input)
}

// The tables of a bank, picked once the lock is held.
func coils(b *bank) map[uint16]bool     { return b.coils }
func discrete(b *bank) map[uint16]bool  { return b.discrete }
func holding(b *bank) map[uint16]uint16 { return b.holding }
func input(b *bank) map[uint16]uint16   { return b.input }

// serve logs and answers one request on unit's table: a write of args when
// write is set, else a read of qty cells.
func serve[T bool | uint16](s *Sim, unit uint8, table string, addr, qty uint16, write bool, args []T, pick func(*bank) map[uint16]T) ([]T, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log1(unit, table, addr, qty, write)
	m := pick(s.bankFor(unit))
	if write {
		return nil, writeCells(m, addr, args)
	}
	return readCells(m, addr, qty)
}

// maxLoggedRequests bounds the request log of a long-running simulator.
const maxLoggedRequests = 10000

// log1 records one request; s.mu must be held.
func (s *Sim) log1(unit uint8, table string, addr, qty uint16, write bool) {
	if len(s.requests) >= maxLoggedRequests {
		s.requests = s.requests[1:]
	}
	s.requests = append(s.requests, Request{Unit: unit, Table: table, Addr: addr, Quantity: qty, Write: write})
}

// The server has already checked that addr+qty-1 <= 0xffff, so the uint16
// address arithmetic below cannot wrap.

func readCells[T bool | uint16](m map[uint16]T, addr, qty uint16) ([]T, error) {
	out := make([]T, qty)
	for i := range out {
		v, ok := m[addr+uint16(i)]
		if !ok {
			return nil, modbus.ErrIllegalDataAddress
		}
		out[i] = v
	}
	return out, nil
}

// writeCells accepts a write only if every target address exists, so a
// failed write changes nothing.
func writeCells[T bool | uint16](m map[uint16]T, addr uint16, args []T) error {
	for i := range args {
		if _, ok := m[addr+uint16(i)]; !ok {
			return modbus.ErrIllegalDataAddress
		}
	}
	for i, v := range args {
		m[addr+uint16(i)] = v
	}
	return nil
}
