package coap

import (
	"fmt"
	"math/big"
	"slices"
	"time"
)

// decodeSenMLCBOR decodes an application/senml+cbor pack (RFC 8428 §6).
func decodeSenMLCBOR(payload []byte, now time.Time, enc string) ([]senmlEntry, error) {
	records, err := parseSenMLCBOR(payload)
	if err != nil {
		return nil, err
	}
	return resolve(records, now, enc)
}

// senmlLabel maps the integer labels of RFC 8428 Table 4 to field names.
func senmlLabel(label int64) (string, bool) {
	switch label {
	case -1:
		return "bver", true
	case -2:
		return "bn", true
	case -3:
		return "bt", true
	case -4:
		return "bu", true
	case -5:
		return "bv", true
	case -6:
		return "bs", true
	case 0:
		return "n", true
	case 1:
		return "u", true
	case 2:
		return "v", true
	case 3:
		return "vs", true
	case 4:
		return "vb", true
	case 5:
		return "s", true
	case 6:
		return "t", true
	case 7:
		return "ut", true
	case 8:
		return "vd", true
	}
	return "", false
}

func parseSenMLCBOR(payload []byte) ([]senmlRecord, error) {
	if len(payload) == 0 {
		return nil, fmt.Errorf("empty payload")
	}
	var doc any
	if err := cborDecoder.Unmarshal(payload, &doc); err != nil {
		return nil, fmt.Errorf("invalid SenML CBOR: %s", shorten(err.Error()))
	}
	pack, ok := doc.([]any)
	if !ok {
		return nil, fmt.Errorf("SenML CBOR pack is %s, not an array of records", cborKind(doc))
	}
	records := make([]senmlRecord, len(pack))
	for i, item := range pack {
		m, ok := item.(map[any]any)
		if !ok {
			return nil, fmt.Errorf("record %d is %s, not a map", i, cborKind(item))
		}
		fields := make([]string, 0, len(m))
		values := make(map[string]any, len(m))
		for k, v := range m {
			name, ok := senmlCBORKey(k)
			if !ok {
				continue // unknown labels are extensions; RFC 8428 §6 lets us ignore them
			}
			if _, dup := values[name]; dup {
				return nil, fmt.Errorf("record %d: field %q given twice (label and name)", i, name)
			}
			fields = append(fields, name)
			values[name] = senmlCBORValue(v)
		}
		slices.Sort(fields) // the same error every poll
		for _, name := range fields {
			if err := records[i].assign(name, values[name]); err != nil {
				return nil, fmt.Errorf("record %d: %w", i, err)
			}
		}
	}
	return records, nil
}

// senmlCBORKey turns a map key into a field name: an integer label from
// Table 4, or a text key (used for fields without a label).
func senmlCBORKey(k any) (string, bool) {
	switch x := k.(type) {
	case int64:
		return senmlLabel(x)
	case uint64:
		if x > 8 {
			return "", false
		}
		return senmlLabel(int64(x))
	case string:
		return x, true
	}
	return "", false
}

// senmlCBORValue normalises a CBOR value for senmlRecord.assign: every
// number becomes float64, byte strings stay []byte.
func senmlCBORValue(v any) any {
	switch x := v.(type) {
	case uint64:
		return float64(x)
	case int64:
		return float64(x)
	case float32:
		return float64(x)
	case big.Int:
		f, _ := new(big.Float).SetInt(&x).Float64()
		return f
	}
	return v
}
