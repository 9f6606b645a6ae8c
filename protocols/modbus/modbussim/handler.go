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
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	h.s.log1(req.UnitId, "coil", req.Addr, req.Quantity, req.IsWrite)
	b := h.s.bankFor(req.UnitId)
	if req.IsWrite {
		return nil, writeBits(b.coils, req.Addr, req.Args)
	}
	return readBits(b.coils, req.Addr, req.Quantity)
}

func (h *handler) HandleDiscreteInputs(req *modbus.DiscreteInputsRequest) ([]bool, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	h.s.log1(req.UnitId, "discrete", req.Addr, req.Quantity, false)
	return readBits(h.s.bankFor(req.UnitId).discrete, req.Addr, req.Quantity)
}

func (h *handler) HandleHoldingRegisters(req *modbus.HoldingRegistersRequest) ([]uint16, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	h.s.log1(req.UnitId, "holding", req.Addr, req.Quantity, req.IsWrite)
	b := h.s.bankFor(req.UnitId)
	if req.IsWrite {
		return nil, writeWords(b.holding, req.Addr, req.Args)
	}
	return readWords(b.holding, req.Addr, req.Quantity)
}

func (h *handler) HandleInputRegisters(req *modbus.InputRegistersRequest) ([]uint16, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	h.s.log1(req.UnitId, "input", req.Addr, req.Quantity, false)
	return readWords(h.s.bankFor(req.UnitId).input, req.Addr, req.Quantity)
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

func readWords(m map[uint16]uint16, addr, qty uint16) ([]uint16, error) {
	out := make([]uint16, qty)
	for i := range out {
		v, ok := m[addr+uint16(i)]
		if !ok {
			return nil, modbus.ErrIllegalDataAddress
		}
		out[i] = v
	}
	return out, nil
}

func readBits(m map[uint16]bool, addr, qty uint16) ([]bool, error) {
	out := make([]bool, qty)
	for i := range out {
		v, ok := m[addr+uint16(i)]
		if !ok {
			return nil, modbus.ErrIllegalDataAddress
		}
		out[i] = v
	}
	return out, nil
}

// writeWords accepts a write only if every target address exists, so a
// failed write changes nothing.
func writeWords(m map[uint16]uint16, addr uint16, args []uint16) error {
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

func writeBits(m map[uint16]bool, addr uint16, args []bool) error {
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
