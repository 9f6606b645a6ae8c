package coap

import (
	"encoding/hex"
	"math"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

func TestDecodeCBOR(t *testing.T) {
	doc := mustCBOR(t, map[any]any{
		"temperature": 22.5,
		"counter":     uint64(7),
		"delta":       int64(-3),
		"status":      "ok",
		"fan":         true,
		"none":        nil,
		"blob":        []byte{1, 2},
		"nested":      map[string]any{"levels": []any{1, 2.5, map[string]any{"x": 3}}},
		7:             "seven",
		-1:            "minus one",
	})
	tests := []struct {
		name    string
		payload []byte
		field   string
		want    any
		reason  string
	}{
		{name: "float", payload: doc, field: "temperature", want: 22.5},
		{name: "unsigned", payload: doc, field: "counter", want: int64(7)},
		{name: "negative", payload: doc, field: "delta", want: int64(-3)},
		{name: "text", payload: doc, field: "status", want: "ok"},
		{name: "bool", payload: doc, field: "fan", want: true},
		{name: "array index", payload: doc, field: "nested.levels.1", want: 2.5},
		{name: "map in array", payload: doc, field: "nested.levels.2.x", want: int64(3)},
		{name: "integer key", payload: doc, field: "7", want: "seven"},
		{name: "negative integer key", payload: doc, field: "-1", want: "minus one"},
		{name: "whole payload", payload: hexBytes(t, "182a"), want: int64(42)},
		{name: "float16", payload: hexBytes(t, "f93e00"), want: 1.5},
		{name: "float32", payload: hexBytes(t, "fa3fc00000"), want: 1.5},
		{name: "max uint64", payload: hexBytes(t, "1bffffffffffffffff"), want: float64(math.MaxUint64)},
		{name: "min negative", payload: hexBytes(t, "3bffffffffffffffff"), want: -18446744073709551616.0},
		{name: "bignum", payload: hexBytes(t, "c249010000000000000000"), want: 18446744073709551616.0},
		{name: "indefinite array", payload: hexBytes(t, "9f0102ff"), field: "1", want: int64(2)},
		{name: "NaN", payload: hexBytes(t, "f97e00"), reason: "payload is not a finite number"},
		{name: "infinity", payload: hexBytes(t, "f97c00"), reason: "not a finite number"},
		{name: "null", payload: doc, field: "none", reason: `field "none" is null or undefined`},
		{name: "byte string", payload: doc, field: "blob", reason: "is a byte string"},
		{name: "map", payload: doc, field: "nested", reason: "is a map"},
		{name: "timestamp", payload: hexBytes(t, "c11a514b67b0"), reason: "a timestamp (tag 0 or 1)"},
		{name: "unknown tag", payload: hexBytes(t, "d8630a"), reason: "a tagged value (tag 99)"},
		{name: "simple value", payload: hexBytes(t, "f0"), reason: "simple value 16"},
		{name: "missing field", payload: doc, field: "pressure", reason: `field "pressure" not found`},
		{name: "descend into scalar", payload: doc, field: "counter.x", reason: `field "counter.x" not found (parent is a number)`},
		{name: "index out of range", payload: doc, field: "nested.levels.9", reason: "not found (array of 3)"},
		{name: "empty", payload: nil, reason: "empty payload"},
		{name: "truncated", payload: hexBytes(t, "a1"), reason: "invalid CBOR"},
		{name: "trailing data", payload: hexBytes(t, "0102"), reason: "invalid CBOR"},
		{name: "duplicate key", payload: hexBytes(t, "a2616101616102"), field: "a", reason: "invalid CBOR"},
		{name: "invalid UTF-8", payload: hexBytes(t, "62fffe"), reason: "invalid CBOR"},
		{name: "deep nesting", payload: hexBytes(t, "818181818181818181818181818181818181818181818181818181818181818181818101"), reason: "invalid CBOR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decode(FormatCBOR, tt.payload, tt.field)
			check(t, got, err, tt.want, tt.reason)
		})
	}
}

func mustCBOR(t testing.TB, v any) []byte {
	t.Helper()
	b, err := cbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hexBytes(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
