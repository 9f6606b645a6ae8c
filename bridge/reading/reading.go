// Package reading defines the canonical reading every protocol's samples are
// normalised into, and its deterministic encoding: the bytes that are hashed,
// signed and sealed, identical on every machine that encodes the same reading.
package reading

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/protocols"
)

// Reading is one value of one point of one device, as the appliance vouches
// for it. Integer map keys keep the encoding small and let other languages
// decode it without Go field names. Exactly one of Float, Int, Bool, Str is
// set, or none when the quality is Bad and no value could be read.
type Reading struct {
	ApplianceID   string            `cbor:"1,keyasint"`
	DeviceID      string            `cbor:"2,keyasint"`
	Point         string            `cbor:"3,keyasint"`
	Float         *float64          `cbor:"4,keyasint,omitempty"`
	Int           *int64            `cbor:"5,keyasint,omitempty"`
	Bool          *bool             `cbor:"6,keyasint,omitempty"`
	Str           *string           `cbor:"7,keyasint,omitempty"`
	Unit          string            `cbor:"8,keyasint,omitempty"`
	Quality       protocols.Quality `cbor:"9,keyasint"` // as mapped from the protocol's status
	Reason        string            `cbor:"10,keyasint,omitempty"`
	SourceTime    int64             `cbor:"11,keyasint,omitempty"` // Unix ns; 0 when the device gives none
	ApplianceTime int64             `cbor:"12,keyasint"`           // Unix ns when the appliance took the value
	Seq           uint64            `cbor:"13,keyasint"`           // appliance-wide, gap-free, from 1
}

// Value returns the reading's typed value (float64, int64, bool, string) or nil.
func (r *Reading) Value() any {
	switch {
	case r.Float != nil:
		return *r.Float
	case r.Int != nil:
		return *r.Int
	case r.Bool != nil:
		return *r.Bool
	case r.Str != nil:
		return *r.Str
	}
	return nil
}

// SetValue stores v, which must be float64, int64, bool, string or nil.
func (r *Reading) SetValue(v any) error {
	r.Float, r.Int, r.Bool, r.Str = nil, nil, nil, nil
	switch x := v.(type) {
	case nil:
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("value %v is not a finite number", x)
		}
		r.Float = &x
	case int64:
		r.Int = &x
	case bool:
		r.Bool = &x
	case string:
		if !utf8.ValidString(x) {
			return fmt.Errorf("string value is not valid UTF-8 (%d bytes)", len(x))
		}
		r.Str = &x
	default:
		return fmt.Errorf("value of type %T is not one of float64, int64, bool, string", v)
	}
	return nil
}

// Time returns the appliance time as a time.Time.
func (r *Reading) Time() time.Time { return time.Unix(0, r.ApplianceTime).UTC() }

// Encode returns the reading's canonical bytes.
func (r *Reading) Encode() ([]byte, error) {
	if n := r.valueCount(); n > 1 {
		return nil, fmt.Errorf("reading %d has %d values set", r.Seq, n)
	}
	// CBOR text must be UTF-8 and Decode refuses it otherwise, so a reading
	// that would encode but never decode (and make its whole block
	// unopenable) is refused here, before it is signed.
	for _, f := range []struct {
		name string
		s    *string
	}{{"appliance id", &r.ApplianceID}, {"device id", &r.DeviceID}, {"point", &r.Point}, {"value", r.Str}, {"unit", &r.Unit}, {"reason", &r.Reason}} {
		if f.s != nil && !utf8.ValidString(*f.s) {
			return nil, fmt.Errorf("reading %d: %s %q is not valid UTF-8", r.Seq, f.name, *f.s)
		}
	}
	return format.Marshal(r)
}

func (r *Reading) valueCount() int {
	n := 0
	for _, set := range []bool{r.Float != nil, r.Int != nil, r.Bool != nil, r.Str != nil} {
		if set {
			n++
		}
	}
	return n
}

// Decode parses canonical bytes and rejects any encoding that is not the
// canonical one, so that two different byte strings never claim to be the
// same reading.
func Decode(data []byte) (*Reading, error) {
	var r Reading
	if err := format.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decode reading: %w", err)
	}
	again, err := r.Encode()
	if err != nil {
		return nil, fmt.Errorf("decode reading: %w", err)
	}
	if string(again) != string(data) {
		return nil, errors.New("decode reading: not in canonical encoding")
	}
	if r.Float != nil && (math.IsNaN(*r.Float) || math.IsInf(*r.Float, 0)) {
		return nil, fmt.Errorf("decode reading %d: value %v is not a finite number", r.Seq, *r.Float)
	}
	if r.Quality > protocols.Bad {
		return nil, fmt.Errorf("decode reading %d: unknown quality %d", r.Seq, r.Quality)
	}
	return &r, nil
}

// LeafHash is the reading's hash as a Merkle leaf (RFC 6962: SHA-256 over
// 0x00 || bytes). The same hash is what a poll signature covers.
func LeafHash(encoded []byte) []byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(encoded)
	return h.Sum(nil)
}
