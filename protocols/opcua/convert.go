package opcua

import (
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gopcua/opcua/ua"

	"github.com/wotchain/wotchain/protocols"
)

// toSample maps one DataValue of a Read response to the point's Sample. It
// never fails: whatever the device sent that cannot be used becomes a Bad
// sample with the reason, so one broken node never hides the others.
func toSample(p Point, dv *ua.DataValue) protocols.Sample {
	s := protocols.Sample{Point: p.Name, Unit: p.Unit}
	if dv == nil {
		s.Quality, s.Reason = protocols.Bad, "no result for node "+p.NodeID
		return s
	}
	s.SourceTime = dv.SourceTimestamp
	s.Quality, s.Reason = statusQuality(dv.Status)

	v, err := variantValue(dv.Value)
	switch {
	case err != nil:
		s.Quality, s.Reason = protocols.Bad, joinReasons(s.Reason, err.Error())
	case v == nil && s.Quality != protocols.Bad:
		// The contract allows a nil Value only on Bad samples.
		s.Quality, s.Reason = protocols.Bad, joinReasons(s.Reason, "no value")
	default:
		s.Value = v
	}
	return s
}

func joinReasons(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// statusQuality maps an OPC UA status code to a quality from its severity,
// the top two bits (Part 4, 7.39): 00 Good, 01 Uncertain, 10 and 11 Bad.
// The reason names the code when it is not Good.
func statusQuality(code ua.StatusCode) (protocols.Quality, string) {
	switch uint32(code) >> 30 {
	case 0:
		return protocols.Good, ""
	case 1:
		return protocols.Uncertain, statusName(code)
	default:
		return protocols.Bad, statusName(code)
	}
}

// statusName renders a status code as "BadNodeIdUnknown (0x80340000)".
// The low 16 bits carry info flags (e.g. overflow, limits) that are not part
// of the code's name, so the lookup ignores them while the hex keeps them.
func statusName(code ua.StatusCode) string {
	desc, ok := ua.StatusCodes[code]
	if !ok {
		desc, ok = ua.StatusCodes[code&0xFFFF0000]
	}
	if !ok {
		return fmt.Sprintf("0x%08X", uint32(code))
	}
	return fmt.Sprintf("%s (0x%08X)", strings.TrimPrefix(desc.Name, "Status"), uint32(code))
}

// variantValue converts a variant to one of the Sample value types: every
// integer width to int64, Float and Double to float64, Boolean, String, and
// the string forms of LocalizedText (its text), ByteString (lower-case hex)
// and DateTime (RFC 3339, UTC). It returns nil, nil for an empty variant and
// an error naming the type for anything it cannot represent faithfully.
func variantValue(v *ua.Variant) (any, error) {
	if v == nil || v.Type() == ua.TypeIDNull {
		return nil, nil
	}
	// Arrays would need a Sample per element; not supported for now.
	if v.Has(ua.VariantArrayValues) {
		return nil, fmt.Errorf("unsupported variant type %s array", typeName(v))
	}
	switch x := v.Value().(type) {
	case bool:
		return x, nil
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint64:
		if x > math.MaxInt64 {
			return nil, fmt.Errorf("UInt64 value %d overflows int64", x)
		}
		return int64(x), nil
	case float32:
		return finite(float32To64(x))
	case float64:
		return finite(x)
	case string:
		return validText(x)
	case *ua.LocalizedText:
		if x == nil {
			return "", nil
		}
		return validText(x.Text)
	case []byte:
		return hex.EncodeToString(x), nil
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), nil
	}
	return nil, fmt.Errorf("unsupported variant type %s", typeName(v))
}

// validText refuses a string that is not UTF-8, as OPC UA requires it to
// be: a reading must hold text every reader can decode.
func validText(s string) (any, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("string value is not valid UTF-8 (%d bytes)", len(s))
	}
	return s, nil
}

// float32To64 widens via the shortest decimal form so that a device's 85.3
// arrives as 85.3 and not 85.30000305175781.
func float32To64(f float32) float64 {
	d, err := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	if err != nil { // only for NaN/Inf, which finite rejects anyway
		return float64(f)
	}
	return d
}

// finite rejects NaN and infinities: devices use them to flag sensor faults,
// and they are not a measurement the pipeline can normalise or store.
func finite(f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("non-finite value %v", f)
	}
	return f, nil
}

func typeName(v *ua.Variant) string {
	return strings.TrimPrefix(v.Type().String(), "TypeID")
}
