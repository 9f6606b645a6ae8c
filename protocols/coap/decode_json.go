package coap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// decodeJSON decodes one JSON document and picks the value at field.
func decodeJSON(payload []byte, field string) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber() // keep integer precision; float64 would round big counters
	var doc any
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty payload")
		}
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("invalid JSON: data after the top-level value")
	}
	v, err := lookup(doc, field)
	if err != nil {
		return nil, err
	}
	return jsonScalar(v, field)
}

// lookup follows a dotted field path; numeric segments index arrays.
func lookup(doc any, field string) (any, error) {
	if field == "" {
		return doc, nil
	}
	cur := doc
	segs := strings.Split(field, ".")
	for i, seg := range segs {
		at := strings.Join(segs[:i+1], ".")
		switch node := cur.(type) {
		case map[string]any:
			v, ok := node[seg]
			if !ok {
				return nil, fmt.Errorf("field %q not found", at)
			}
			cur = v
		case []any:
			idx, err := strconv.Atoi(seg)
			if err != nil || idx < 0 || idx >= len(node) {
				return nil, fmt.Errorf("field %q not found (array of %d)", at, len(node))
			}
			cur = node[idx]
		default:
			return nil, fmt.Errorf("field %q not found (parent is %s)", at, jsonKind(cur))
		}
	}
	return cur, nil
}

// jsonScalar converts a decoded JSON value into a sample value.
func jsonScalar(v any, field string) (any, error) {
	name := "payload"
	if field != "" {
		name = fmt.Sprintf("field %q", field)
	}
	switch x := v.(type) {
	case json.Number:
		if isInteger(string(x)) {
			return parseInteger(string(x))
		}
		return parseFloat(string(x))
	case bool, string:
		return x, nil
	}
	return nil, fmt.Errorf("%s is %s, not a number, boolean or string", name, jsonKind(v))
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	}
	return fmt.Sprintf("%T", v)
}
