package coap

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// receivedAt is the receipt time used for relative SenML times.
var receivedAt = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type entryWant struct {
	name  string
	unit  string
	value any
	at    time.Time // zero: no time
	err   string    // substring of the entry's error
}

func TestSenMLRFCExamples(t *testing.T) {
	bt := time.Date(2010, 6, 8, 18, 1, 16, 1e6, time.UTC) // 1.276020076001e9
	tests := []struct {
		file string
		want []entryWant
	}{
		{file: "single-datapoint.json", want: []entryWant{
			{name: "urn:dev:ow:10e2073a01080063", unit: "Cel", value: 23.1},
		}},
		{file: "multiple-measurements.json", want: []entryWant{
			{name: "urn:dev:ow:10e2073a0108006:voltage", unit: "V", value: 120.1, at: bt},
			{name: "urn:dev:ow:10e2073a0108006:current", unit: "A", value: 1.2, at: bt.Add(-5 * time.Second)},
			{name: "urn:dev:ow:10e2073a0108006:current", unit: "A", value: 1.3, at: bt.Add(-4 * time.Second)},
			{name: "urn:dev:ow:10e2073a0108006:current", unit: "A", value: 1.4, at: bt.Add(-3 * time.Second)},
			{name: "urn:dev:ow:10e2073a0108006:current", unit: "A", value: 1.5, at: bt.Add(-2 * time.Second)},
			{name: "urn:dev:ow:10e2073a0108006:current", unit: "A", value: 1.6, at: bt.Add(-1 * time.Second)},
			{name: "urn:dev:ow:10e2073a0108006:current", unit: "A", value: 1.7, at: bt},
		}},
		{file: "multiple-data-types.json", want: []entryWant{
			{name: "urn:dev:ow:10e2073a01080063:temperature", unit: "Cel", value: 23.1},
			{name: "urn:dev:ow:10e2073a01080063:label", value: "Machine Room"},
			{name: "urn:dev:ow:10e2073a01080063:open", value: false},
			{name: "urn:dev:ow:10e2073a01080063:nfc-reader", value: "aGkgCg"}, // "hi\n"
		}},
	}
	for _, tt := range tests {
		raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "coap", "senml", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		t.Run(tt.file+"/json", func(t *testing.T) {
			got, err := decodeSenMLJSON(raw, receivedAt, EncodingBase64)
			checkEntries(t, got, err, tt.want)
		})
		t.Run(tt.file+"/cbor", func(t *testing.T) {
			got, err := decodeSenMLCBOR(jsonToSenMLCBOR(t, raw), receivedAt, EncodingBase64)
			checkEntries(t, got, err, tt.want)
		})
	}
}

// TestSenMLCBORHandEncoded checks the integer labels against bytes written
// by hand from RFC 8428 Table 4, not produced by the code under test: the
// first two records of the "Multiple Measurements" example.
func TestSenMLCBORHandEncoded(t *testing.T) {
	var b []byte
	b = append(b, 0x82, 0xa7)                                  // array(2), map(7)
	b = append(b, 0x21, 0x78, 27)                              // bn (-2), text(27)
	b = append(b, "urn:dev:ow:10e2073a0108006:"...)            //
	b = appendFloat(append(b, 0x22), 1.276020076001e9)         // bt (-3)
	b = append(b, 0x23, 0x61, 'A')                             // bu (-4) "A"
	b = append(b, 0x20, 0x05)                                  // bver (-1) 5
	b = append(b, 0x00, 0x67)                                  // n (0), text(7)
	b = append(b, "voltage"...)                                //
	b = append(b, 0x01, 0x61, 'V')                             // u (1) "V"
	b = appendFloat(append(b, 0x02), 120.1)                    // v (2)
	b = append(b, 0xa3, 0x00, 0x67)                            // map(3), n (0), text(7)
	b = append(b, "current"...)                                //
	b = append(b, 0x06, 0x24)                                  // t (6) -5
	b = appendFloat(append(b, 0x02), 1.2)                      // v (2)
	bt := time.Date(2010, 6, 8, 18, 1, 16, 1e6, time.UTC)      //
	got, err := decodeSenMLCBOR(b, receivedAt, EncodingBase64) //
	checkEntries(t, got, err, []entryWant{
		{name: "urn:dev:ow:10e2073a0108006:voltage", unit: "V", value: 120.1, at: bt},
		{name: "urn:dev:ow:10e2073a0108006:current", unit: "A", value: 1.2, at: bt.Add(-5 * time.Second)},
	})
}

func appendFloat(b []byte, f float64) []byte {
	bits := math.Float64bits(f)
	b = append(b, 0xfb)
	for i := 7; i >= 0; i-- {
		b = append(b, byte(bits>>(8*i)))
	}
	return b
}

func TestSenMLResolution(t *testing.T) {
	tests := []struct {
		name   string
		pack   string
		enc    string
		want   []entryWant
		reason string // whole-pack error
	}{
		{name: "base value and sum", pack: `[{"bn":"d:","bv":100,"bs":10,"n":"a","v":1.5},{"n":"b","s":2}]`,
			want: []entryWant{{name: "d:a", value: 101.5}, {name: "d:b", value: 12.0}}},
		{name: "base unit overridden", pack: `[{"bu":"V","n":"a","v":1},{"n":"b","u":"A","v":2},{"n":"c","v":3}]`,
			want: []entryWant{{name: "a", unit: "V", value: 1.0}, {name: "b", unit: "A", value: 2.0}, {name: "c", unit: "V", value: 3.0}}},
		{name: "base name changes", pack: `[{"bn":"x:","n":"a","v":1},{"bn":"y:","n":"a","v":2}]`,
			want: []entryWant{{name: "x:a", value: 1.0}, {name: "y:a", value: 2.0}}},
		{name: "relative times", pack: `[{"n":"a","t":-10,"v":1},{"n":"a","t":0,"v":2},{"bt":-60,"n":"a","t":30,"v":3}]`,
			want: []entryWant{
				{name: "a", value: 1.0, at: receivedAt.Add(-10 * time.Second)},
				{name: "a", value: 2.0, at: receivedAt},
				{name: "a", value: 3.0, at: receivedAt.Add(-30 * time.Second)},
			}},
		{name: "fractional absolute time", pack: `[{"bt":1700000000.25,"n":"a","v":1}]`,
			want: []entryWant{{name: "a", value: 1.0, at: time.Unix(1700000000, 250e6).UTC()}}},
		{name: "data as hex", pack: `[{"n":"d","vd":"3q2-7w"}]`, enc: EncodingHex,
			want: []entryWant{{name: "d", value: "deadbeef"}}},
		{name: "padded standard base64 accepted", pack: `[{"n":"d","vd":"3q2+7w=="}]`,
			want: []entryWant{{name: "d", value: "3q2-7w"}}},
		{name: "update time ignored", pack: `[{"n":"a","ut":60,"v":1}]`, want: []entryWant{{name: "a", value: 1.0}}},
		{name: "unknown field ignored", pack: `[{"n":"a","v":1,"x":[1]}]`, want: []entryWant{{name: "a", value: 1.0}}},
		{name: "version 10", pack: `[{"bver":10,"n":"a","v":1}]`, want: []entryWant{{name: "a", value: 1.0}}},

		{name: "two values", pack: `[{"n":"a","v":1,"vs":"x"},{"n":"b","v":2}]`,
			want: []entryWant{{name: "a", err: `record 0 ("a"): more than one value field`}, {name: "b", value: 2.0}}},
		{name: "no value", pack: `[{"n":"a"}]`, want: []entryWant{{name: "a", err: "no value"}}},
		{name: "time beyond 2262", pack: `[{"n":"a","t":1e10,"v":1}]`, want: []entryWant{{name: "a", err: "beyond the year 2261"}}},
		{name: "relative time too far", pack: `[{"n":"a","t":-1e9,"v":1}]`, want: []entryWant{{name: "a", err: "relative time"}}},
		{name: "sum overflows", pack: `[{"bv":1e308,"n":"a","v":1e308}]`, want: []entryWant{{name: "a", err: "out of range"}}},

		{name: "must-understand field", pack: `[{"n":"a","v":1,"crit_":1}]`, reason: `must-understand field "crit_"`},
		{name: "future version", pack: `[{"bver":11,"n":"a","v":1}]`, reason: "SenML version 11 is not supported"},
		{name: "fractional version", pack: `[{"bver":5.5,"n":"a","v":1}]`, reason: "version 5.5"},
		{name: "value wrong type", pack: `[{"n":"a","v":"1"}]`, reason: `record 0: field "v" is a string, not a number`},
		{name: "name wrong type", pack: `[{"n":7,"v":1}]`, reason: `field "n" is a number, not a string`},
		{name: "vb wrong type", pack: `[{"n":"a","vb":"true"}]`, reason: `field "vb" is a string, not a boolean`},
		{name: "vd not base64", pack: `[{"n":"a","vd":"**"}]`, reason: `field "vd" is not base64`},
		{name: "number too large", pack: `[{"n":"a","v":1e999}]`, reason: "number out of range"},
		{name: "not an array", pack: `{"n":"a","v":1}`, reason: "pack is an object, not an array"},
		{name: "record not an object", pack: `[1]`, reason: "record 0 is a number, not an object"},
		{name: "invalid", pack: `[{"n":`, reason: "invalid SenML JSON"},
		{name: "trailing", pack: `[] []`, reason: "data after the pack"},
		{name: "empty", pack: ``, reason: "empty payload"},
	}
	for _, tt := range tests {
		enc := tt.enc
		if enc == "" {
			enc = EncodingBase64
		}
		t.Run(tt.name+"/json", func(t *testing.T) {
			got, err := decodeSenMLJSON([]byte(tt.pack), receivedAt, enc)
			if tt.reason != "" {
				wantErr(t, err, tt.reason)
				return
			}
			checkEntries(t, got, err, tt.want)
		})
		if tt.reason != "" || !json.Valid([]byte(tt.pack)) {
			continue // JSON-specific failures have no CBOR twin
		}
		t.Run(tt.name+"/cbor", func(t *testing.T) {
			got, err := decodeSenMLCBOR(jsonToSenMLCBOR(t, []byte(tt.pack)), receivedAt, enc)
			checkEntries(t, got, err, tt.want)
		})
	}
}

func TestSenMLCBORSpecific(t *testing.T) {
	for _, tt := range []struct {
		name   string
		pack   any
		reason string
	}{
		{name: "vd as text", pack: []map[int]any{{0: "a", 8: "3q2-7w"}}, reason: `field "vd" is a string, not data`},
		{name: "label and name twice", pack: []map[any]any{{0: "a", "n": "b", 2: 1.0}}, reason: `field "n" given twice`},
		{name: "not an array", pack: map[int]any{0: "a"}, reason: "pack is a map, not an array"},
		{name: "record not a map", pack: []any{"x"}, reason: "record 0 is a text string, not a map"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeSenMLCBOR(mustCBOR(t, tt.pack), receivedAt, EncodingBase64)
			wantErr(t, err, tt.reason)
		})
	}
	// Integer values become float64 like every SenML number; unknown
	// integer labels are skipped.
	got, err := decodeSenMLCBOR(mustCBOR(t, []map[int]any{{0: "a", 2: 42, 99: "x"}}), receivedAt, EncodingBase64)
	checkEntries(t, got, err, []entryWant{{name: "a", value: 42.0}})
}

func TestSenMLValues(t *testing.T) {
	entries := []senmlEntry{{name: "x", value: 1.0}, {name: "y", value: 2.0}, {name: "x", value: 3.0}}
	got, err := senmlValues(entries, "x")
	if err != nil || len(got) != 2 || got[0].v != 1.0 || got[1].v != 3.0 {
		t.Fatalf("senmlValues = %+v, %v; want both x records in order", got, err)
	}
	_, err = senmlValues(entries, "z")
	wantErr(t, err, `no record named "z" in the SenML pack (3 records)`)
}

// jsonToSenMLCBOR transcodes a SenML JSON pack to CBOR with the integer
// labels of RFC 8428 §6 (vd becomes a byte string), so every JSON case
// also exercises the CBOR decoder.
func jsonToSenMLCBOR(t *testing.T, raw []byte) []byte {
	t.Helper()
	labels := map[string]int{"bver": -1, "bn": -2, "bt": -3, "bu": -4, "bv": -5, "bs": -6,
		"n": 0, "u": 1, "v": 2, "vs": 3, "vb": 4, "s": 5, "t": 6, "ut": 7, "vd": 8}
	var pack []map[string]any
	if err := json.Unmarshal(raw, &pack); err != nil {
		t.Fatal(err)
	}
	out := make([]map[any]any, len(pack))
	for i, rec := range pack {
		out[i] = make(map[any]any, len(rec))
		for k, v := range rec {
			if k == "vd" {
				s, _ := v.(string)
				d, err := decodeBase64(s)
				if err != nil {
					t.Fatal(err)
				}
				v = d
			}
			if l, ok := labels[k]; ok {
				out[i][l] = v
			} else {
				out[i][k] = v
			}
		}
	}
	return mustCBOR(t, out)
}

func checkEntries(t *testing.T, got []senmlEntry, err error, want []entryWant) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if w.err != "" {
			if g.err == nil || !strings.Contains(g.err.Error(), w.err) || g.value != nil {
				t.Errorf("entry %d: %+v, want error containing %q and no value", i, g, w.err)
			}
			continue
		}
		if g.err != nil || g.name != w.name || g.unit != w.unit || g.value != w.value || !g.at.Equal(w.at) {
			t.Errorf("entry %d = {%q %q %#v %v %v}, want {%q %q %#v %v}", i,
				g.name, g.unit, g.value, g.at, g.err, w.name, w.unit, w.value, w.at)
		}
	}
}

func wantErr(t *testing.T, err error, reason string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), reason) {
		t.Fatalf("error = %v, want one containing %q", err, reason)
	}
}
