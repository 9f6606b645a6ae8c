package modbus

import (
	"fmt"
	"slices"
	"testing"
)

func reg(addr uint16, typ dataType) point {
	return point{name: fmt.Sprintf("h%d", addr), kind: kindHolding, addr: addr, typ: typ, scale: identity}
}

func bitp(kind registerKind, addr uint16) point {
	return point{name: fmt.Sprintf("%s%d", kind, addr), kind: kind, addr: addr, typ: typeBool, scale: identity}
}

// ranges renders a plan as "holding 0+4" strings for comparison.
func ranges(reqs []readRequest) []string {
	out := make([]string, len(reqs))
	for i, r := range reqs {
		out[i] = r.String()
	}
	return out
}

func TestPlanReads(t *testing.T) {
	str := reg(300, typeString)
	str.length = 10
	tests := []struct {
		name   string
		points []point
		lim    limits
		want   []string
	}{
		{"adjacent merge with gap 0", []point{reg(0, typeFloat32), reg(2, typeUint16), reg(3, typeUint32)},
			defaultLimits, []string{"holding 0+5"}},
		{"gap 1 splits with max_gap 0", []point{reg(0, typeUint16), reg(2, typeUint16)},
			defaultLimits, []string{"holding 0+1", "holding 2+1"}},
		{"gap 1 merges with max_gap 1", []point{reg(0, typeUint16), reg(2, typeUint16)},
			limits{maxGap: 1}, []string{"holding 0+3"}},
		{"unsorted input, overlapping points", []point{reg(5, typeUint16), reg(4, typeUint32), reg(4, typeBit)},
			defaultLimits, []string{"holding 4+2"}},
		{"string counts its length", []point{str, reg(310, typeInt16)},
			defaultLimits, []string{"holding 300+11"}},
		{"tables never merge", []point{reg(0, typeUint16), {name: "i", kind: kindInput, addr: 1, typ: typeUint16}, bitp(kindCoil, 0), bitp(kindDiscrete, 1)},
			limits{maxGap: 100}, []string{"holding 0+1", "input 1+1", "coil 0+1", "discrete 1+1"}},
		// 0..123 plus a float32 at 124..125 would need 126 registers.
		{"register cap 125", []point{reg(0, typeUint16), reg(123, typeUint16), reg(124, typeFloat32)},
			limits{maxGap: 200}, []string{"holding 0+124", "holding 124+2"}},
		{"register cap exactly 125", []point{reg(0, typeUint16), reg(124, typeUint16)},
			limits{maxGap: 200}, []string{"holding 0+125"}},
		{"configured register cap", []point{reg(0, typeUint16), reg(1, typeUint16), reg(2, typeUint16)},
			limits{maxRegisters: 2}, []string{"holding 0+2", "holding 2+1"}},
		{"bit cap 2000", []point{bitp(kindCoil, 0), bitp(kindCoil, 1999), bitp(kindCoil, 2000)},
			limits{maxGap: 1999}, []string{"coil 0+2000", "coil 2000+1"}},
		{"configured bit cap", []point{bitp(kindDiscrete, 0), bitp(kindDiscrete, 8)},
			limits{maxGap: 10, maxBits: 8}, []string{"discrete 0+1", "discrete 8+1"}},
		{"top of the address space", []point{reg(65534, typeUint16), reg(65535, typeUint16)},
			defaultLimits, []string{"holding 65534+2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plan := planReads(tc.points, nil, tc.lim)
			if got := ranges(plan); !slices.Equal(got, tc.want) {
				t.Fatalf("plan %q, want %q", got, tc.want)
			}
			// Every point is in exactly one request that covers it.
			seen := make(map[int]int)
			for _, r := range plan {
				for _, i := range r.points {
					seen[i]++
					p := tc.points[i]
					if p.kind != r.kind || int(p.addr) < int(r.address) || p.end() > int(r.address)+int(r.quantity) {
						t.Errorf("point %s not inside %s", p.name, r)
					}
				}
			}
			for i := range tc.points {
				if seen[i] != 1 {
					t.Errorf("point %d in %d requests", i, seen[i])
				}
			}
		})
	}
}

func TestSplit(t *testing.T) {
	points := []point{reg(0, typeUint16), reg(1, typeUint16), reg(5, typeFloat32), reg(7, typeUint16)}
	lim := limits{maxGap: 10}
	plan := planReads(points, nil, lim)
	if got := ranges(plan); !slices.Equal(got, []string{"holding 0+8"}) {
		t.Fatalf("plan %q", got)
	}
	runs := plan[0].split(points, lim)
	if got := ranges(runs); !slices.Equal(got, []string{"holding 0+2", "holding 5+3"}) {
		t.Fatalf("first split %q, want the runs of adjacent points", got)
	}
	singles := runs[1].split(points, lim)
	if got := ranges(singles); !slices.Equal(got, []string{"holding 5+2", "holding 7+1"}) {
		t.Fatalf("second split %q, want single points", got)
	}
	if s := singles[0].split(points, lim); s != nil {
		t.Fatalf("a single point split into %q", ranges(s))
	}
}
