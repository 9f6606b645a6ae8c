package modbus

import (
	"errors"
	"reflect"
	"testing"

	"github.com/wotchain/wotchain/protocols"
)

func errorFields(errs []error) []string {
	var out []string
	for _, err := range errs {
		var fe *protocols.FieldError
		if errors.As(err, &fe) {
			out = append(out, fe.Field)
		}
	}
	return out
}

// TestCheckType is the decision of a point's data type from its register
// kind, its type and its byte order.
func TestCheckType(t *testing.T) {
	for _, tc := range []struct {
		name   string
		kind   registerKind
		p      Point
		typ    dataType
		typeOK bool
		fields []string
	}{
		{"coil without type is bool", kindCoil, Point{}, typeBool, true, nil},
		{"discrete named bool", kindDiscrete, Point{Type: "bool"}, typeBool, true, nil},
		{"coil with a register type", kindCoil, Point{Type: "uint16", Order: "ABCD"}, typeBool, true, []string{"p.type", "p.order"}},
		{"holding without type", kindHolding, Point{}, typeBool, false, []string{"p.type"}},
		{"holding, unknown type", kindHolding, Point{Type: "int128"}, 0, false, []string{"p.type"}},
		{"input named bool", kindInput, Point{Type: "bool"}, typeBool, false, []string{"p.type"}},
		{"holding float32, CDAB", kindHolding, Point{Type: "float32", Order: "CDAB"}, typeFloat32, true, nil},
		{"holding, unknown order", kindHolding, Point{Type: "uint32", Order: "XYZW"}, typeUint32, true, []string{"p.order"}},
	} {
		e := &pointErrors{path: "p"}
		typ, ok := tc.p.checkType(e, tc.kind)
		if ok != tc.typeOK || (ok && typ != tc.typ) {
			t.Errorf("%s: type %v ok %v, want %v ok %v", tc.name, typ, ok, tc.typ, tc.typeOK)
		}
		if got := errorFields(e.errs); !reflect.DeepEqual(got, tc.fields) {
			t.Errorf("%s: fields %q, want %q", tc.name, got, tc.fields)
		}
	}
}

func TestCheckSize(t *testing.T) {
	for _, tc := range []struct {
		name   string
		kind   registerKind
		typ    dataType
		p      Point
		max    int
		fields []string
	}{
		{"uint64 fits", kindHolding, typeUint64, Point{Address: 65532}, 125, nil},
		{"uint64 past the end", kindHolding, typeUint64, Point{Address: 65533}, 125, []string{"p.address"}},
		{"string past the end", kindHolding, typeString, Point{Address: 65530, Length: 7}, 125, []string{"p.address"}},
		{"uint32 over max_registers", kindInput, typeUint32, Point{}, 1, []string{"p.type"}},
		{"string is checked by length", kindHolding, typeString, Point{Length: 10}, 1, nil},
		{"coil at the last address", kindCoil, typeBool, Point{Address: 65535}, 1, nil},
	} {
		e := &pointErrors{path: "p"}
		tc.p.checkSize(e, tc.kind, tc.typ, tc.max)
		if got := errorFields(e.errs); !reflect.DeepEqual(got, tc.fields) {
			t.Errorf("%s: fields %q, want %q", tc.name, got, tc.fields)
		}
	}
}
