package modbus

import (
	"cmp"
	"fmt"
	"slices"
)

// point is a validated Point in the form the poller uses.
type point struct {
	name   string
	unit   string
	kind   registerKind
	addr   uint16
	typ    dataType
	order  byteOrder
	scale  scaling
	bit    uint8  // typeBit
	length uint16 // typeString, in registers
}

// compilePoint converts a validated Point; the errors only guard against a
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
	c := point{name: p.Name, unit: p.Unit, kind: kind, addr: p.Address, typ: typ, order: order, scale: sc}
	switch typ {
	case typeBit:
		if p.Bit == nil || *p.Bit < 0 || *p.Bit > 15 {
			return point{}, fmt.Errorf("point %q: bit must be 0..15", p.Name)
		}
		c.bit = uint8(*p.Bit)
	case typeString:
		if p.Length < 1 || p.Length > maxRegistersPerRequest {
			return point{}, fmt.Errorf("point %q: length must be 1..%d", p.Name, maxRegistersPerRequest)
		}
		c.length = uint16(p.Length)
	}
	if int(c.addr)+int(c.size())-1 > 0xFFFF {
		return point{}, fmt.Errorf("point %q: runs past address 65535", p.Name)
	}
	return c, nil
}

// size is the number of registers or bits the point occupies.
func (p point) size() uint16 {
	if p.typ == typeString {
		return p.length
	}
	return uint16(p.typ.words())
}

// end is one past the point's last register or bit.
func (p point) end() int { return int(p.addr) + int(p.size()) }

// readRequest is one Modbus read covering one or more points.
type readRequest struct {
	kind     registerKind
	address  uint16
	quantity uint16 // registers, or bits for coils and discrete inputs
	points   []int  // indexes into the point list, by address
}

func (r readRequest) String() string {
	return fmt.Sprintf("%s %d+%d", r.kind, r.address, r.quantity)
}

// limits bound how points are merged into requests.
type limits struct {
	maxGap       int // unused items allowed between two merged points
	maxRegisters int
	maxBits      int
}

// defaultLimits merge adjacent points only, up to the protocol maximum.
var defaultLimits = limits{maxGap: 0, maxRegisters: maxRegistersPerRequest, maxBits: maxBitsPerRequest}

func (l limits) max(k registerKind) int {
	m := l.maxRegisters
	if k.isBit() {
		m = l.maxBits
	}
	if m <= 0 || m > k.maxQuantity() {
		m = k.maxQuantity()
	}
	return m
}

// planReads merges the points into as few requests as the limits allow:
// per table, in address order, a point joins the current request when the
// unused gap before it is at most maxGap and the request stays within the
// size cap. Greedy in address order is optimal for this kind of covering.
// idx selects the points to plan (nil: all).
func planReads(points []point, idx []int, lim limits) []readRequest {
	if idx == nil {
		idx = make([]int, len(points))
		for i := range idx {
			idx[i] = i
		}
	}
	order := slices.Clone(idx)
	slices.SortStableFunc(order, func(a, b int) int {
		pa, pb := points[a], points[b]
		return cmp.Or(cmp.Compare(pa.kind, pb.kind), cmp.Compare(pa.addr, pb.addr), cmp.Compare(pa.end(), pb.end()))
	})

	var reqs []readRequest
	var cur *readRequest
	curEnd := 0
	for _, i := range order {
		p := points[i]
		if cur != nil && cur.kind == p.kind {
			newEnd := max(curEnd, p.end())
			if int(p.addr)-curEnd <= lim.maxGap && newEnd-int(cur.address) <= lim.max(p.kind) {
				cur.points = append(cur.points, i)
				curEnd = newEnd
				cur.quantity = uint16(curEnd - int(cur.address))
				continue
			}
		}
		reqs = append(reqs, readRequest{kind: p.kind, address: p.addr, quantity: p.size(), points: []int{i}})
		cur, curEnd = &reqs[len(reqs)-1], p.end()
	}
	return reqs
}

// split breaks up a merged request a device refused (it holds an address
// the device does not map, or is longer than the device accepts): first into
// runs of adjacent points, then into single points. A single-point request
// cannot be split.
func (r readRequest) split(points []point, lim limits) []readRequest {
	if len(r.points) < 2 {
		return nil
	}
	adjacent := lim
	adjacent.maxGap = 0
	if runs := planReads(points, r.points, adjacent); len(runs) > 1 {
		return runs
	}
	singles := make([]readRequest, len(r.points))
	for k, i := range r.points {
		p := points[i]
		singles[k] = readRequest{kind: p.kind, address: p.addr, quantity: p.size(), points: []int{i}}
	}
	return singles
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
	if off < 0 || off+int(p.size()) > int(r.quantity) || p.kind != r.kind {
		return nil, fmt.Errorf("point at %s %d outside request %s", p.kind, p.addr, r)
	}
	var (
		v   any
		err error
	)
	if r.kind.isBit() {
		v, err = bitAt(raw, off)
	} else {
		words := raw[2*off : 2*(off+int(p.size()))]
		switch p.typ {
		case typeBit:
			v, err = decodeRegisterBit(words, p.order, p.bit)
		case typeString:
			v, err = decodeString(words, p.order, int(p.length))
		default:
			v, err = decodeRegisters(words, p.typ, p.order, p.scale)
		}
	}
	if err != nil {
		return nil, err
	}
	return v, nil
}
