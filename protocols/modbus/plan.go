package modbus

import (
	"fmt"
)

// point is a validated Point in the form the poller uses.
type point struct {
	name  string
	unit  string
	kind  registerKind
	addr  uint16
	typ   dataType
	order byteOrder
	scale scaling
}

// compilePoint converts a validated Point; the error only guards against a
// caller that skipped Validate.
func compilePoint(p Point) (point, error) {
	kind, ok := parseRegisterKind(p.Register)
	if !ok {
		return point{}, fmt.Errorf("point %q: unknown register %q", p.Name, p.Register)
	}
	typ := typeBool
	if p.Type != "" {
		if typ, ok = parseDataType(p.Type); !ok {
			return point{}, fmt.Errorf("point %q: unknown type %q", p.Name, p.Type)
		}
	}
	if kind.isBit() != (typ == typeBool) {
		return point{}, fmt.Errorf("point %q: type %s does not fit %s", p.Name, typ, kind)
	}
	order, ok := parseByteOrder(p.Order)
	if !ok {
		return point{}, fmt.Errorf("point %q: unknown order %q", p.Name, p.Order)
	}
	sc := scaling{scale: 1, offset: p.Offset}
	if p.Scale != nil {
		sc.scale = *p.Scale
	}
	return point{name: p.Name, unit: p.Unit, kind: kind, addr: p.Address, typ: typ, order: order, scale: sc}, nil
}

// size is the number of registers or bits the point occupies.
func (p point) size() uint16 { return uint16(p.typ.words()) }

// readRequest is one Modbus read covering one or more points.
type readRequest struct {
	kind     registerKind
	address  uint16
	quantity uint16 // registers, or bits for coils and discrete inputs
	points   []int  // indexes into the point list, ascending
}

// planReads decides which requests one poll sends. For now one request per
// point; coalescing adjacent points belongs here and nowhere else.
func planReads(points []point) []readRequest {
	reqs := make([]readRequest, 0, len(points))
	for i, p := range points {
		reqs = append(reqs, readRequest{kind: p.kind, address: p.addr, quantity: p.size(), points: []int{i}})
	}
	return reqs
}

// valueOf decodes point p from raw, the data of the response to r. A
// response of the wrong length is an error for every point it covers, since
// the device evidently did not answer the question asked.
func (r readRequest) valueOf(p point, raw []byte) (any, error) {
	want := 2 * int(r.quantity)
	if r.kind.isBit() {
		want = (int(r.quantity) + 7) / 8
	}
	if len(raw) != want {
		return nil, fmt.Errorf("response has %d bytes, want %d for %d %s items at %d",
			len(raw), want, r.quantity, r.kind, r.address)
	}
	off := int(p.addr) - int(r.address)
	if off < 0 || off+int(p.size()) > int(r.quantity) {
		return nil, fmt.Errorf("point at %d outside request %d+%d", p.addr, r.address, r.quantity)
	}
	if r.kind.isBit() {
		return bitAt(raw, off)
	}
	return decodeRegisters(raw[2*off:2*(off+int(p.size()))], p.typ, p.order, p.scale)
}
