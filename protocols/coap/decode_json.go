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
	return walkPath(doc, field, func(node any, seg string) (any, bool, bool) {
		m, isMap := node.(map[string]any)
		v, ok := m[seg]
		return v, isMap, ok
	}, jsonKind)
}

// walkPath follows a dotted field path through a decoded document; a
// numeric segment indexes an array. child looks seg up in node, saying
// whether node is a map and whether seg was found there; kind names a node
// for the error when it is neither map nor array.
func walkPath(doc any, field string, child func(node any, seg string) (v any, isMap, ok bool), kind func(any) string) (any, error) {
	if field == "" {
		return doc, nil
	}
	cur := doc
	segs := strings.Split(field, ".")
	for i, seg := range segs {
		at := strings.Join(segs[:i+1], ".")
		if arr, isArr := cur.([]any); isArr {
			idx, err := strconv.Atoi(seg)
			if err != nil || idx < 0 || idx >= len(arr) {
				return nil, fmt.Errorf("field %q not found (array of %d)", at, len(arr))
			}
			cur = arr[idx]
			continue
		}
		v, isMap, ok := child(cur, seg)
		switch {
		case !isMap:
			return nil, fmt.Errorf("field %q not found (parent is %s)", at, kind(cur))
		case !ok:
			return nil, fmt.Errorf("field %q not found", at)
		}
		cur = v
	}
	return cur, nil
}

// fieldName names field in an error; the empty field is the whole payload.
func fieldName(field string) string {
	if field == "" {
		return "payload"
	}
	return fmt.Sprintf("field %q", field)
}

// jsonScalar converts a decoded JSON value into a sample value.
func jsonScalar(v any, field string) (any, error) {
	name := fieldName(field)
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
