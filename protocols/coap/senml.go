package coap

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// SenML (RFC 8428) packs are decoded in two steps: the JSON or CBOR
// representation becomes a list of senmlRecords (fields as sent), then
// resolve applies the base fields and yields one senmlEntry per record.

// senmlVersion is the highest SenML version understood (RFC 8428 §4.4).
const senmlVersion = 10

// relativeLimit separates relative from absolute SenML times: values below
// 2**28 seconds are relative to the time of receipt (RFC 8428 §4.5.3).
const relativeLimit = 1 << 28

// maxSenMLTime is the latest absolute time a reading can carry (its time is
// stored as Unix nanoseconds in an int64, which ends in 2262).
const maxSenMLTime = 9.2e9

// senmlRecord is one record as sent; a nil field is absent.
type senmlRecord struct {
	bn, bu, n, u, vs *string
	bt, bv, bs, bver *float64
	v, s, t          *float64
	vb               *bool
	vd               []byte
	hasVD            bool
}

// senmlEntry is one resolved record. err is set when this record alone is
// unusable (no value, two values, bad time); value is then nil.
type senmlEntry struct {
	name  string
	unit  string
	value any // float64, bool or string
	at    time.Time
	err   error
}

// assign stores one field. v is already normalised by the representation:
// string, float64, bool, or []byte for vd. Unknown fields are ignored
// unless their name ends in "_", which RFC 8428 §4.4 makes must-understand.
func (r *senmlRecord) assign(key string, v any) error {
	str := func(dst **string) error {
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("field %q is %s, not a string", key, senmlKind(v))
		}
		*dst = &s
		return nil
	}
	num := func(dst **float64) error {
		f, ok := v.(float64)
		if !ok {
			return fmt.Errorf("field %q is %s, not a number", key, senmlKind(v))
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("field %q is not a finite number", key)
		}
		*dst = &f
		return nil
	}
	switch key {
	case "bn":
		return str(&r.bn)
	case "bu":
		return str(&r.bu)
	case "n":
		return str(&r.n)
	case "u":
		return str(&r.u)
	case "vs":
		return str(&r.vs)
	case "bt":
		return num(&r.bt)
	case "bv":
		return num(&r.bv)
	case "bs":
		return num(&r.bs)
	case "bver":
		return num(&r.bver)
	case "v":
		return num(&r.v)
	case "s":
		return num(&r.s)
	case "t":
		return num(&r.t)
	case "ut":
		var ut *float64
		return num(&ut) // type-checked only: an update interval is not a reading
	case "vb":
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("field %q is %s, not a boolean", key, senmlKind(v))
		}
		r.vb = &b
	case "vd":
		d, ok := v.([]byte)
		if !ok {
			return fmt.Errorf("field %q is %s, not data", key, senmlKind(v))
		}
		r.vd, r.hasVD = d, true
	default:
		if strings.HasSuffix(key, "_") {
			return fmt.Errorf("must-understand field %s is not supported", quote(key))
		}
	}
	return nil
}

func senmlKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []byte:
		return "a byte string"
	case map[string]any, map[any]any:
		return "an object"
	case []any:
		return "an array"
	}
	return "an unsupported value"
}

// resolve applies base fields (RFC 8428 §4.6): base name, time, unit,
// value and sum carry over to the following records until changed. now is
// when the pack was received, the reference for relative times. enc says
// how data values (vd) become strings.
func resolve(records []senmlRecord, now time.Time, enc string) ([]senmlEntry, error) {
	var (
		bn, bu     string
		bt, bv, bs float64
		hasBT      bool
	)
	out := make([]senmlEntry, 0, len(records))
	for i, r := range records {
		if r.bver != nil && (*r.bver != math.Trunc(*r.bver) || *r.bver < 1 || *r.bver > senmlVersion) {
			return nil, fmt.Errorf("record %d: SenML version %v is not supported (up to %d)", i, *r.bver, senmlVersion)
		}
		if r.bn != nil {
			bn = *r.bn
		}
		if r.bu != nil {
			bu = *r.bu
		}
		if r.bt != nil {
			bt, hasBT = *r.bt, true
		}
		if r.bv != nil {
			bv = *r.bv
		}
		if r.bs != nil {
			bs = *r.bs
		}
		e := senmlEntry{name: bn + deref(r.n), unit: bu}
		if r.u != nil {
			e.unit = *r.u
		}
		e.value, e.err = r.resolveValue(bv, bs, enc)
		if e.err == nil && (hasBT || r.t != nil) {
			e.at, e.err = senmlTime(bt+deref(r.t), now)
		}
		if e.err != nil {
			e.value = nil
			e.err = fmt.Errorf("record %d (%s): %w", i, quote(e.name), e.err)
		}
		out = append(out, e)
	}
	return out, nil
}

// resolveValue picks the record's one value: v (plus base value), vs, vb or
// vd; a record with only a sum (s, plus base sum) yields the sum.
func (r *senmlRecord) resolveValue(bv, bs float64, enc string) (any, error) {
	n := 0
	for _, set := range []bool{r.v != nil, r.vs != nil, r.vb != nil, r.hasVD} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return nil, errors.New("more than one value field (v, vs, vb, vd)")
	case r.v != nil:
		return finiteSum(bv, *r.v)
	case r.vs != nil:
		return *r.vs, nil
	case r.vb != nil:
		return *r.vb, nil
	case r.hasVD:
		if enc == EncodingHex {
			return hex.EncodeToString(r.vd), nil
		}
		return base64.RawURLEncoding.EncodeToString(r.vd), nil
	case r.s != nil:
		return finiteSum(bs, *r.s)
	}
	return nil, errors.New("no value (v, vs, vb, vd or s)")
}

func finiteSum(base, v float64) (any, error) {
	f := base + v
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, errors.New("value out of range")
	}
	return f, nil
}

// senmlTime converts a resolved SenML time (seconds, possibly fractional)
// to a time.Time, rounded to the microsecond: a float64 around 1.7e9 has
// about 0.24 µs resolution, so finer digits are representation noise.
func senmlTime(secs float64, now time.Time) (time.Time, error) {
	switch {
	case math.IsNaN(secs) || math.IsInf(secs, 0):
		return time.Time{}, errors.New("time is not finite")
	case secs >= relativeLimit:
		if secs > maxSenMLTime {
			return time.Time{}, fmt.Errorf("time %v is beyond the year 2261", secs)
		}
		whole := math.Floor(secs)
		micros := math.Round((secs - whole) * 1e6)
		return time.Unix(int64(whole), int64(micros)*1e3).UTC(), nil
	case secs <= -relativeLimit:
		return time.Time{}, fmt.Errorf("relative time %v is out of range", secs)
	}
	return now.Add(time.Duration(math.Round(secs*1e6)) * time.Microsecond).UTC(), nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// senmlValues selects a point's entries from a pack.
func senmlValues(entries []senmlEntry, name string) ([]value, error) {
	var out []value
	for _, e := range entries {
		if e.name != name {
			continue
		}
		out = append(out, value{v: e.value, unit: e.unit, at: e.at, err: e.err})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no record named %s in the SenML pack (%d records)", quote(name), len(entries))
	}
	return out, nil
}
