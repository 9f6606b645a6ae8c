package coap

import (
	"math"
	"strings"
	"testing"
)

func TestDecodeText(t *testing.T) {
	tests := []struct {
		in     string
		want   any
		reason string // substring of the error when decoding must fail
	}{
		{in: "42", want: int64(42)},
		{in: " -7\n", want: int64(-7)},
		{in: "+3", want: int64(3)},
		{in: "007", want: int64(7)},
		{in: "45.0", want: 45.0},
		{in: "-0.5", want: -0.5},
		{in: ".5", want: 0.5},
		{in: "5.", want: 5.0},
		{in: "1e3", want: 1000.0},
		{in: "2.5E-1", want: 0.25},
		{in: "9223372036854775807", want: int64(math.MaxInt64)},
		{in: "9223372036854775808", want: 9223372036854775808.0},
		{in: "true", want: true},
		{in: "false\r\n", want: false},
		{in: "TRUE", want: true},
		{in: "", reason: "empty payload"},
		{in: "   ", reason: "empty payload"},
		{in: "NaN", reason: "not a finite number"},
		{in: "-Inf", reason: "not a finite number"},
		{in: "infinity", reason: "not a finite number"},
		{in: "1e400", reason: "out of range"},
		{in: "hello", reason: "not a number or boolean"},
		{in: "0x10", reason: "not a number or boolean"},
		{in: "1_000", reason: "not a number or boolean"},
		{in: "1e", reason: "not a number or boolean"},
		{in: ".", reason: "not a number or boolean"},
		{in: "--1", reason: "not a number or boolean"},
		{in: "12 34", reason: "not a number or boolean"},
		{in: "yes", reason: "not a number or boolean"},
		{in: strings.Repeat("x", 200), reason: `xxx"...`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := decode(FormatText, []byte(tt.in), "")
			check(t, got, err, tt.want, tt.reason)
		})
	}
}

func TestDecodeJSON(t *testing.T) {
	const env = `{"env": {"temperature": 22.5, "co2": 415, "fan": true, "site": "line-1",
		"none": null, "list": [1, 2.5, {"x": 3}], "obj": {}}}`
	tests := []struct {
		name    string
		payload string
		field   string
		want    any
		reason  string
	}{
		{name: "nested float", payload: env, field: "env.temperature", want: 22.5},
		{name: "nested int", payload: env, field: "env.co2", want: int64(415)},
		{name: "bool", payload: env, field: "env.fan", want: true},
		{name: "string", payload: env, field: "env.site", want: "line-1"},
		{name: "array index", payload: env, field: "env.list.1", want: 2.5},
		{name: "object in array", payload: env, field: "env.list.2.x", want: int64(3)},
		{name: "whole payload number", payload: " 17 ", want: int64(17)},
		{name: "whole payload string", payload: `"ok"`, want: "ok"},
		{name: "float with zero fraction", payload: `1.0`, want: 1.0},
		{name: "exponent", payload: `1e2`, want: 100.0},
		{name: "negative exponent", payload: `-25e-1`, want: -2.5},
		{name: "negative int", payload: `-3`, want: int64(-3)},
		{name: "max int64", payload: `9223372036854775807`, want: int64(math.MaxInt64)},
		{name: "min int64", payload: `-9223372036854775808`, want: int64(math.MinInt64)},
		{name: "beyond int64", payload: `18446744073709551616`, want: 18446744073709551616.0},
		{name: "beyond float64", payload: `1e400`, reason: "out of range"},
		{name: "missing field", payload: env, field: "env.pressure", reason: `field "env.pressure" not found`},
		{name: "missing parent", payload: env, field: "plant.temperature", reason: `field "plant" not found`},
		{name: "descend into scalar", payload: env, field: "env.co2.value", reason: `field "env.co2.value" not found (parent is a number)`},
		{name: "index out of range", payload: env, field: "env.list.9", reason: `field "env.list.9" not found`},
		{name: "null", payload: env, field: "env.none", reason: `field "env.none" is null`},
		{name: "object", payload: env, field: "env.obj", reason: `field "env.obj" is an object`},
		{name: "array", payload: env, field: "env.list", reason: `field "env.list" is an array`},
		{name: "whole object", payload: env, reason: "payload is an object"},
		{name: "empty", payload: "", reason: "empty payload"},
		{name: "invalid", payload: `{"a":`, reason: "invalid JSON"},
		{name: "trailing data", payload: `{"a":1} {"a":2}`, field: "a", reason: "data after the top-level value"},
		{name: "NaN literal", payload: `NaN`, reason: "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decode(FormatJSON, []byte(tt.payload), tt.field)
			check(t, got, err, tt.want, tt.reason)
		})
	}
}

func TestDecodeString(t *testing.T) {
	for _, tt := range []struct {
		in     string
		want   any
		reason string
	}{
		{in: "Nov 25 01:18:36", want: "Nov 25 01:18:36"},
		{in: " padded\n", want: " padded\n"}, // verbatim: the device's text is the value
		{in: "", want: ""},
		{in: "caf\xc3\xa9", want: "café"},
		{in: "\xff\xfe", reason: "not UTF-8 text (2 bytes)"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := decode(FormatString, []byte(tt.in), "")
			check(t, got, err, tt.want, tt.reason)
		})
	}
}

func check(t *testing.T, got any, err error, want any, reason string) {
	t.Helper()
	if reason != "" {
		if err == nil {
			t.Fatalf("got %#v, want error containing %q", got, reason)
		}
		if !strings.Contains(err.Error(), reason) {
			t.Fatalf("error %q does not contain %q", err, reason)
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if got != want { // dynamic types must match too: int64(1) != 1.0
		t.Fatalf("got %#v (%T), want %#v (%T)", got, got, want, want)
	}
}
