package coap

import (
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// cborDecOptions bound what a device's CBOR may cost to decode. Payloads are at
// most 64 KiB (go-coap's message limit), so these only stop pathological
// nesting and keep errors specific.
var cborDecOptions = cbor.DecOptions{
	DupMapKey:        cbor.DupMapKeyEnforcedAPF, // a duplicate key makes the value ambiguous
	MaxNestedLevels:  32,
	MaxArrayElements: 1 << 16,
	MaxMapPairs:      1 << 16,
	IndefLength:      cbor.IndefLengthAllowed,
	TagsMd:           cbor.TagsAllowed,
	IntDec:           cbor.IntDecConvertNone,
	UTF8:             cbor.UTF8RejectInvalid,
	DefaultMapType:   reflect.TypeOf(map[any]any(nil)),
}

// newCBORDecoder builds the decoding mode. A DecMode is immutable and safe
// for concurrent use, so one is shared.
func newCBORDecoder() cbor.DecMode {
	dm, err := cborDecOptions.DecMode()
	if err != nil {
		// The options are constants; this only fails if they are edited
		// into an invalid combination, which the tests catch.
		panic(fmt.Sprintf("coap: invalid CBOR decoding options: %v", err))
	}
	return dm
}

// cborDecoder is read-only after package initialisation.
var cborDecoder = newCBORDecoder()

// decodeCBOR decodes one CBOR data item and picks the value at field.
func decodeCBOR(payload []byte, field string) (any, error) {
	if len(payload) == 0 {
		return nil, fmt.Errorf("empty payload")
	}
	var doc any
	if err := cborDecoder.Unmarshal(payload, &doc); err != nil {
		return nil, fmt.Errorf("invalid CBOR: %s", shorten(err.Error()))
	}
	v, err := cborLookup(doc, field)
	if err != nil {
		return nil, err
	}
	return cborScalar(v, field)
}

// cborLookup follows a dotted field path. A segment matches a text key; a
// numeric segment also matches an integer key (CBOR protocols often use
// small integers as labels) or indexes an array.
func cborLookup(doc any, field string) (any, error) {
	return walkPath(doc, field, func(node any, seg string) (any, bool, bool) {
		m, isMap := node.(map[any]any)
		if !isMap {
			return nil, false, false
		}
		v, ok := cborMapGet(m, seg)
		return v, true, ok
	}, cborKind)
}

func cborMapGet(m map[any]any, seg string) (any, bool) {
	if v, ok := m[seg]; ok {
		return v, true
	}
	n, err := strconv.ParseInt(seg, 10, 64)
	if err != nil {
		return nil, false
	}
	if n >= 0 {
		v, ok := m[uint64(n)]
		return v, ok
	}
	v, ok := m[n]
	return v, ok
}

// cborScalar converts a decoded CBOR value into a sample value. CBOR keeps
// integers and floats apart on the wire, so the type is stable per point.
func cborScalar(v any, field string) (any, error) {
	name := fieldName(field)
	switch x := v.(type) {
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), nil
		}
		return float64(x), nil // large counters stay usable, at reduced precision
	case int64:
		return x, nil
	case big.Int:
		return bigFloat(&x, name)
	case *big.Int:
		return bigFloat(x, name)
	case float64:
		return finite(x, name)
	case float32:
		return finite(float64(x), name)
	case bool, string:
		return x, nil
	}
	return nil, fmt.Errorf("%s is %s, not a number, boolean or string", name, cborKind(v))
}

func bigFloat(b *big.Int, name string) (any, error) {
	f, _ := new(big.Float).SetInt(b).Float64()
	return finite(f, name)
}

func finite(f float64, name string) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%s is not a finite number (%v)", name, f)
	}
	return f, nil
}

func cborKind(v any) string {
	switch x := v.(type) {
	case nil:
		return "null or undefined"
	case map[any]any:
		return "a map"
	case []any:
		return "an array"
	case []byte, cbor.ByteString:
		return "a byte string"
	case time.Time:
		return "a timestamp (tag 0 or 1)"
	case cbor.Tag:
		return fmt.Sprintf("a tagged value (tag %d)", x.Number)
	case cbor.RawTag:
		return fmt.Sprintf("a tagged value (tag %d)", x.Number)
	case cbor.SimpleValue:
		return fmt.Sprintf("simple value %d", uint8(x))
	case uint64, int64, big.Int, *big.Int, float64, float32:
		return "a number"
	case bool:
		return "a boolean"
	case string:
		return "a text string"
	}
	return fmt.Sprintf("%T", v)
}

// shorten bounds a library error message that may quote device bytes.
func shorten(s string) string {
	const maxLen = 120
	if len(s) <= maxLen {
		return s
	}
	return strings.ToValidUTF8(s[:maxLen], "") + "..."
}
