package coap

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"
)

// decodeSenMLJSON decodes an application/senml+json pack.
func decodeSenMLJSON(payload []byte, now time.Time, enc string) ([]senmlEntry, error) {
	records, err := parseSenMLJSON(payload)
	if err != nil {
		return nil, err
	}
	return resolve(records, now, enc)
}

func parseSenMLJSON(payload []byte) ([]senmlRecord, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty payload")
		}
		return nil, fmt.Errorf("invalid SenML JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("invalid SenML JSON: data after the pack")
	}
	pack, ok := doc.([]any)
	if !ok {
		return nil, fmt.Errorf("SenML JSON pack is %s, not an array of records", jsonKind(doc))
	}
	records := make([]senmlRecord, len(pack))
	for i, item := range pack {
		obj, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("record %d is %s, not an object", i, jsonKind(item))
		}
		// Sorted keys keep the reported error the same from poll to poll.
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			v, err := senmlJSONValue(k, obj[k])
			if err == nil {
				err = records[i].assign(k, v)
			}
			if err != nil {
				return nil, fmt.Errorf("record %d: %w", i, err)
			}
		}
	}
	return records, nil
}

// senmlJSONValue normalises a JSON field for senmlRecord.assign: numbers
// become float64 (SenML numbers are floating point), vd becomes bytes.
func senmlJSONValue(key string, v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return nil, fmt.Errorf("field %q: number out of range: %s", key, quote(string(x)))
		}
		return f, nil
	case string:
		if key != "vd" {
			return x, nil
		}
		d, err := decodeBase64(x)
		if err != nil {
			return nil, fmt.Errorf("field \"vd\" is not base64: %s", quote(x))
		}
		return d, nil
	}
	return v, nil
}

// decodeBase64 accepts the URL alphabet RFC 8428 prescribes, with or without
// padding, and the standard alphabet some devices send instead.
func decodeBase64(s string) ([]byte, error) {
	var err error
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
		var d []byte
		if d, err = enc.DecodeString(s); err == nil {
			return d, nil
		}
	}
	return nil, err
}
