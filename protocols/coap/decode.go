package coap

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxQuoted bounds how much of a device's payload is echoed into a Reason,
// so a chatty or hostile device cannot bloat samples and logs.
const maxQuoted = 40

// decode turns a single-value representation (text, string, json, cbor)
// into a sample value (int64, float64, bool or string). The error text is
// meant to be a Sample.Reason.
func decode(format string, payload []byte, field string) (any, error) {
	switch format {
	case FormatText, "":
		return decodeText(payload)
	case FormatString:
		return decodeString(payload)
	case FormatJSON:
		return decodeJSON(payload, field)
	case FormatCBOR:
		return decodeCBOR(payload, field)
	}
	return nil, fmt.Errorf("unknown format %q", format)
}

// decodeString takes a text/plain payload verbatim (status words, firmware
// versions). It must be UTF-8: readings are stored as CBOR text.
func decodeString(payload []byte) (any, error) {
	if !utf8.Valid(payload) {
		return nil, fmt.Errorf("payload is not UTF-8 text (%d bytes)", len(payload))
	}
	return string(payload), nil
}

// decodeText accepts a single number or boolean. Other text is refused
// rather than passed on as a string: a text/plain resource that suddenly
// says "ERR" is a fault, not a reading.
func decodeText(payload []byte) (any, error) {
	s := strings.TrimSpace(string(payload))
	switch {
	case s == "":
		return nil, errors.New("empty payload")
	case strings.EqualFold(s, "true"):
		return true, nil
	case strings.EqualFold(s, "false"):
		return false, nil
	case isNonFinite(s):
		return nil, fmt.Errorf("not a finite number: %s", quote(s))
	case isInteger(s):
		return parseInteger(s)
	case isDecimal(s):
		return parseFloat(s)
	}
	return nil, fmt.Errorf("not a number or boolean: %s", quote(s))
}

// parseInteger returns int64, falling back to float64 for integers beyond
// the int64 range (large counters stay usable, at reduced precision).
func parseInteger(s string) (any, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err == nil {
		return n, nil
	}
	return parseFloat(s)
}

func parseFloat(s string) (any, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, fmt.Errorf("number out of range: %s", quote(s))
	}
	return f, nil
}

// isNonFinite spots the spellings strconv would turn into NaN or ±Inf, so
// the reason names the real problem instead of "not a number".
func isNonFinite(s string) bool {
	switch strings.ToLower(strings.TrimLeft(s, "+-")) {
	case "nan", "inf", "infinity":
		return true
	}
	return false
}

// isInteger reports whether s is [+-]digits.
func isInteger(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	return s != "" && countDigits(s) == len(s)
}

// isDecimal reports whether s is a plain decimal literal:
// [+-](digits[.digits]|.digits)[(e|E)[+-]digits]. strconv.ParseFloat alone
// is too lenient for device text: it also takes "NaN", "Inf", hex floats
// and underscores.
func isDecimal(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	intDigits := countDigits(s)
	s = s[intDigits:]
	fracDigits := 0
	if s != "" && s[0] == '.' {
		s = s[1:]
		fracDigits = countDigits(s)
		s = s[fracDigits:]
	}
	if intDigits+fracDigits == 0 {
		return false
	}
	if s != "" && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s != "" && (s[0] == '+' || s[0] == '-') {
			s = s[1:]
		}
		expDigits := countDigits(s)
		if expDigits == 0 {
			return false
		}
		s = s[expDigits:]
	}
	return s == ""
}

// countDigits returns the length of the leading run of ASCII digits.
func countDigits(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return i
		}
	}
	return len(s)
}

// quote renders untrusted device text for a Reason: escaped and truncated.
func quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:maxQuoted]) + "..."
}
