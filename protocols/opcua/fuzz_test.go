package opcua

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gopcua/opcua/ua"

	"github.com/wotchain/wotchain/bridge/normalise"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/protocols"
)

// fuzzPoint is the configured point every fuzzed DataValue is read for.
var fuzzPoint = Point{Name: "temp", NodeID: "ns=1;s=Boiler.Temperature", Unit: "°C"}

// fuzzDataValues are encodings of DataValues as a server sends them in a
// Read response or a data change notification: every variant type
// variantValue handles, the ones it refuses, arrays, each status severity
// and the optional timestamps.
func fuzzDataValues(f *testing.F) [][]byte {
	ts := time.Date(2024, 5, 6, 7, 8, 9, 123456700, time.UTC)
	values := []any{
		true, false,
		int8(-8), uint8(255), int16(-16), uint16(65535), int32(math.MinInt32), uint32(math.MaxUint32),
		int64(math.MinInt64), uint64(math.MaxInt64), uint64(math.MaxInt64) + 1,
		float32(85.3), float32(math.Inf(-1)), float32(math.NaN()), float32(1e-45),
		2.5, math.NaN(), math.Inf(1), -0.0, math.MaxFloat64,
		"auto", "", "Betrieb – ü",
		ua.NewLocalizedTextWithLocale("Betrieb", "de"), ua.NewLocalizedText(""),
		[]byte{0xde, 0xad, 0xbe, 0xef}, []byte{},
		ts,
		ua.NewGUID("72962B91-FA75-4AE6-8D28-B404DC7DAF63"),
		ua.NewNumericNodeID(1, 2), ua.NewStringNodeID(2, "x"),
		ua.StatusBadSensorFailure,
		&ua.QualifiedName{NamespaceIndex: 1, Name: "x"},
		ua.XMLElement("<a/>"),
		[]int32{1, 2}, []float64{1.5}, []string{"a", "b"}, []bool{}, [][]int32{{1, 2}, {3, 4}},
	}
	statuses := []ua.StatusCode{
		ua.StatusOK, ua.StatusUncertainLastUsableValue, ua.StatusUncertainSensorNotAccurate | 0x0400,
		ua.StatusBadSensorFailure, ua.StatusBadNodeIDUnknown, 0xC0000000, 0x7FFF0000,
	}
	var out [][]byte
	add := func(dv *ua.DataValue) {
		dv.UpdateMask()
		b, err := dv.Encode()
		if err != nil {
			f.Fatalf("encode %+v: %v", dv, err)
		}
		if unbounded(b) {
			return // a multi-dimensional array: left out (decodeDataValue)
		}
		if _, ok := decodeDataValue(b); !ok {
			f.Fatalf("seed %x does not decode", b)
		}
		out = append(out, b)
	}
	for i, v := range values {
		vr, err := ua.NewVariant(v)
		if err != nil {
			f.Fatalf("variant of %T: %v", v, err)
		}
		dv := &ua.DataValue{Value: vr}
		if i%2 == 0 {
			dv.SourceTimestamp, dv.ServerTimestamp = ts, ts.Add(time.Millisecond)
			dv.SourcePicoseconds = 500
		}
		add(dv)
	}
	for _, s := range statuses {
		add(&ua.DataValue{Value: ua.MustVariant(85.5), Status: s, SourceTimestamp: ts})
		add(&ua.DataValue{Status: s})
	}
	add(&ua.DataValue{})
	add(&ua.DataValue{Value: &ua.Variant{}, Status: ua.StatusUncertain})
	return out
}

// FuzzToSample: arbitrary bytes through gopcua's decoder of a DataValue,
// then toSample, the function Poll and the subscription use. Whatever the
// server sends, the sample belongs to the configured point, its value is
// nil or a faithful, finite one of float64, int64, bool, string, its
// quality is the status code's severity (or Bad with a reason when there is
// no usable value), and the normalised reading can be decoded again (so the
// block that seals it can be opened and proved).
func FuzzToSample(f *testing.F) {
	for _, b := range fuzzDataValues(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dv, ok := decodeDataValue(data)
		if !ok {
			return
		}
		s := toSample(fuzzPoint, dv)
		checkSample(t, dv, s)
	})
}

// unbounded reports a DataValue whose Variant has array dimensions or is an
// ExtensionObject, DataValue, Variant or DiagnosticInfo (see decodeDataValue).
func unbounded(data []byte) bool {
	if len(data) < 2 || data[0]&0x01 == 0 { // no Variant
		return false
	}
	mask := data[1]
	typ := mask & 0x3f
	return mask&0x40 != 0 || typ == 22 || typ == 23 || typ == 24 || typ == 25
}

// decodeDataValue decodes with gopcua. Its decoder panics on some inputs
// (e.g. a variant array length below -1): that is gopcua's, outside
// toSample, so such inputs are skipped here rather than reported.
func decodeDataValue(data []byte) (dv *ua.DataValue, ok bool) {
	// gopcua also allocates from lengths it does not check against the
	// message (U2 in docs/RELIABILITY.md): an array's dimension count (up
	// to 8 GiB of int32 from 4 bytes; two fuzz workers then run out of
	// memory) and arrays inside nested structures. Variants that can carry
	// them are left out here; toSample refuses them whole anyway
	// (TestVariantValue covers that), and in the appliance such a message
	// ends only the device's agent.
	if unbounded(data) {
		return nil, false
	}
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	dv = new(ua.DataValue)
	if _, err := dv.Decode(data); err != nil {
		return nil, false
	}
	return dv, true
}

func checkSample(t *testing.T, dv *ua.DataValue, s protocols.Sample) {
	t.Helper()
	if s.Point != fuzzPoint.Name || s.Unit != fuzzPoint.Unit {
		t.Fatalf("point/unit %q/%q, configured %q/%q", s.Point, s.Unit, fuzzPoint.Name, fuzzPoint.Unit)
	}
	if !s.SourceTime.Equal(dv.SourceTimestamp) || !s.Received.IsZero() {
		t.Fatalf("source time %v (received %v), the server sent %v", s.SourceTime, s.Received, dv.SourceTimestamp)
	}
	if !s.SourceTime.IsZero() && !time.Unix(0, s.SourceTime.UnixNano()).Equal(s.SourceTime) {
		t.Fatalf("source time %v does not fit Unix nanoseconds", s.SourceTime)
	}

	// Value: nil or exactly one of the four types, finite, valid UTF-8.
	switch v := s.Value.(type) {
	case nil, int64, bool:
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("non-finite value %v", v)
		}
	case string:
		if !utf8.ValidString(v) {
			t.Fatalf("string value is not UTF-8: %q (variant %s)", v, dv.Value.Type())
		}
	default:
		t.Fatalf("value of type %T", s.Value)
	}
	if !utf8.ValidString(s.Reason) {
		t.Fatalf("reason is not UTF-8: %q", s.Reason)
	}

	// Quality: the status code's severity (Part 4, 7.39), whose name or hex
	// is the reason; without a usable value, Bad with a reason.
	code := uint32(dv.Status)
	sev := [4]protocols.Quality{protocols.Good, protocols.Uncertain, protocols.Bad, protocols.Bad}[code>>30]
	hexCode := fmt.Sprintf("0x%08X", code)
	switch {
	case s.Value == nil:
		if s.Quality != protocols.Bad || s.Reason == "" {
			t.Fatalf("no value with quality %v, reason %q", s.Quality, s.Reason)
		}
		if sev != protocols.Good && !strings.Contains(s.Reason, hexCode) {
			t.Fatalf("reason %q does not name status %s", s.Reason, hexCode)
		}
	case s.Quality != sev:
		t.Fatalf("status %s maps to %v, want %v", hexCode, s.Quality, sev)
	case sev == protocols.Good && s.Reason != "":
		t.Fatalf("Good sample with reason %q", s.Reason)
	case sev != protocols.Good && !strings.Contains(s.Reason, hexCode):
		t.Fatalf("%v sample's reason %q does not name status %s", s.Quality, s.Reason, hexCode)
	}
	if (s.Quality == protocols.Good) != (s.Reason == "") {
		t.Fatalf("quality %v with reason %q", s.Quality, s.Reason)
	}

	checkFaithful(t, dv.Value, s.Value)

	// The reading the appliance signs and seals from this sample must
	// decode again, with the same value: a verifier decodes every reading.
	r := normalise.Reading("app-1", "boiler-1", s, 1, time.Unix(1_700_000_000, 0))
	enc, err := r.Encode()
	if err != nil {
		t.Fatalf("encode reading: %v", err)
	}
	back, err := reading.Decode(enc)
	if err != nil {
		t.Fatalf("the reading of this sample does not decode: %v (value %q, variant %s)", err, s.Value, dv.Value.Type())
	}
	again, _ := back.Encode()
	if !bytes.Equal(again, enc) || back.Value() != r.Value() {
		t.Fatalf("reading changed through decoding: %v -> %v", r.Value(), back.Value())
	}
}

// checkFaithful: a value present is the variant's own, exactly (a Float as
// the float32 it was, a DateTime as the same instant, a ByteString as its
// bytes); arrays and types without a faithful form give no value.
func checkFaithful(t *testing.T, vr *ua.Variant, got any) {
	t.Helper()
	if vr == nil || vr.Type() == ua.TypeIDNull || vr.Has(ua.VariantArrayValues) {
		if got != nil {
			t.Fatalf("value %#v from a null or array variant", got)
		}
		return
	}
	var ok bool
	switch x := vr.Value().(type) {
	case bool:
		ok = got == x
	case int8, int16, int32, int64, uint8, uint16, uint32:
		// Every one of these fits an int64; the decimal forms are equal
		// exactly when the values are.
		n, isInt := got.(int64)
		ok = isInt && fmt.Sprint(n) == fmt.Sprint(x)
	case uint64:
		if x > math.MaxInt64 {
			ok = got == nil
		} else {
			ok = got == int64(x)
		}
	case float32:
		f, isF := got.(float64)
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			ok = got == nil
		} else {
			ok = isF && float32(f) == x
		}
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			ok = got == nil
		} else {
			ok = got == x
		}
	case string: // text that is not UTF-8 is refused (no value)
		ok = got == x || !utf8.ValidString(x) && got == nil
	case *ua.LocalizedText:
		ok = x != nil && (got == x.Text || !utf8.ValidString(x.Text) && got == nil) || x == nil && got == ""
	case []byte:
		s, isS := got.(string)
		b, err := hex.DecodeString(s)
		ok = isS && err == nil && bytes.Equal(b, x)
	case time.Time:
		s, isS := got.(string)
		p, err := time.Parse(time.RFC3339Nano, s)
		ok = isS && err == nil && p.Equal(x)
	default:
		ok = got == nil
	}
	if !ok {
		t.Fatalf("variant %s %#v became value %#v", vr.Type(), vr.Value(), got)
	}
}
