package coap

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"

	"github.com/wotchain/wotchain/protocols"
	"github.com/wotchain/wotchain/protocols/coap/coapsim"
)

// Every decoder of device data is fuzzed through pointSamples, the function
// Poll uses: whatever the device sends, the result is Good samples with a
// storable value, or Bad samples with a bounded reason and no value, and
// never a panic.

var fuzzNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func FuzzDecodeText(f *testing.F) {
	for _, s := range []string{"42", " 1.5e3 ", "NaN", "true", "-0", "1e400", "\xff", "9223372036854775808"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, format := range []string{FormatText, FormatString} {
			p := Point{Name: "p", Format: format}
			checkSamples(t, p, fuzzSamples(p, message.TextPlain, payload))
		}
	})
}

func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"env":{"temperature":22.5,"list":[1,{"x":true}]}}`), "env.temperature")
	f.Add([]byte(`{"a":[1,2,3]}`), "a.2")
	f.Add([]byte(`[null]`), "0")
	f.Add([]byte(`123456789012345678901234567890`), "")
	f.Add([]byte(`"\ud800"`), "")
	f.Fuzz(func(t *testing.T, payload []byte, field string) {
		p := Point{Name: "p", Format: FormatJSON, Field: field}
		checkSamples(t, p, fuzzSamples(p, message.AppJSON, payload))
	})
}

func FuzzDecodeCBOR(f *testing.F) {
	_, doc, _ := coapsim.Payload(coapsim.PathCBOR, 3)
	f.Add(doc, "nested.levels.2")
	f.Add(doc, "7")
	f.Add(hexBytes(f, "c249010000000000000000"), "")
	f.Add(hexBytes(f, "f97e00"), "")
	f.Add(hexBytes(f, "9f0102ff"), "1")
	f.Add(hexBytes(f, "c11a514b67b0"), "")
	f.Fuzz(func(t *testing.T, payload []byte, field string) {
		p := Point{Name: "p", Format: FormatCBOR, Field: field}
		checkSamples(t, p, fuzzSamples(p, message.AppCBOR, payload))
	})
}

func FuzzDecodeSenMLJSON(f *testing.F) {
	for _, seed := range senmlSeeds(f) {
		f.Add(seed, coapsim.SenMLBaseName+"temp", false)
	}
	f.Add([]byte(`[{"n":"a","vd":"3q2-7w"},{"n":"a","t":-1e9,"v":1}]`), "a", true)
	f.Add([]byte(`[{"bver":11}]`), "", false)
	f.Fuzz(func(t *testing.T, payload []byte, name string, hexData bool) {
		p := senmlFuzzPoint(name, hexData)
		checkSamples(t, p, fuzzSamples(p, message.AppSenmlJSON, payload))
	})
}

func FuzzDecodeSenMLCBOR(f *testing.F) {
	_, demo, _ := coapsim.Payload(coapsim.PathSenMLCBOR, 1)
	f.Add(demo, coapsim.SenMLBaseName+"temp", false)
	f.Add(demo, coapsim.SenMLBaseName+"blob", true)
	f.Add(mustCBOR(f, []map[any]any{{0: "a", 6: 1e300, 2: 1}, {"n": "a", 8: []byte{1}}}), "a", false)
	f.Add(hexBytes(f, "81a2006161f97e00"), "a", false)
	f.Fuzz(func(t *testing.T, payload []byte, name string, hexData bool) {
		p := senmlFuzzPoint(name, hexData)
		checkSamples(t, p, fuzzSamples(p, message.AppSenmlCbor, payload))
	})
}

func senmlFuzzPoint(name string, hexData bool) Point {
	p := Point{Name: "p", Format: FormatSenML, SenMLName: name}
	if hexData {
		p.DataEncoding = EncodingHex
	}
	return p
}

func senmlSeeds(f *testing.F) [][]byte {
	dir := filepath.Join("..", "..", "testdata", "coap", "senml")
	entries, err := os.ReadDir(dir)
	if err != nil {
		f.Fatal(err)
	}
	var seeds [][]byte
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	_, demo, _ := coapsim.Payload(coapsim.PathSenMLJSON, 2)
	return append(seeds, demo)
}

func fuzzSamples(p Point, mt message.MediaType, payload []byte) []protocols.Sample {
	r := response{code: codes.Content, format: mt, hasFormat: true, payload: payload}
	return pointSamples(p, "GET", "/p", r, fuzzNow)
}

// checkSamples asserts what the pipeline relies on.
func checkSamples(t *testing.T, p Point, samples []protocols.Sample) {
	t.Helper()
	if len(samples) == 0 {
		t.Fatal("no sample: a point must always say something")
	}
	// Device bytes are truncated in reasons; only configured names (field,
	// SenML name) may be echoed in full.
	maxReason := 400 + 2*len(strconv.Quote(p.Field)) + 2*len(strconv.Quote(p.SenMLName))
	for i, s := range samples {
		if s.Point != p.Name || !utf8.ValidString(s.Unit) {
			t.Fatalf("sample %d: point %q unit %q", i, s.Point, s.Unit)
		}
		if !s.SourceTime.IsZero() && !time.Unix(0, s.SourceTime.UnixNano()).Equal(s.SourceTime) {
			t.Fatalf("sample %d: source time %v does not fit Unix nanoseconds", i, s.SourceTime)
		}
		switch s.Quality {
		case protocols.Good:
			if s.Reason != "" {
				t.Fatalf("sample %d: Good with reason %q", i, s.Reason)
			}
			switch v := s.Value.(type) {
			case int64, bool:
			case string:
				if !utf8.ValidString(v) {
					t.Fatalf("sample %d: string value is not UTF-8", i)
				}
			case float64:
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("sample %d: non-finite value %v", i, v)
				}
			default:
				t.Fatalf("sample %d: value of type %T", i, s.Value)
			}
		case protocols.Bad:
			if s.Value != nil || s.Reason == "" || !utf8.ValidString(s.Reason) || len(s.Reason) > maxReason {
				t.Fatalf("sample %d: Bad with value %#v, reason (%d bytes) %q", i, s.Value, len(s.Reason), s.Reason)
			}
		default:
			t.Fatalf("sample %d: quality %v", i, s.Quality)
		}
	}
}
