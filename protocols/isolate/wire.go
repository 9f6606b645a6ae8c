package isolate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"

	"github.com/wotchain/wotchain/protocols"
)

// The agent and the appliance talk in length-prefixed CBOR frames over the
// agent's standard input and output: first the hello (what to build), then
// requests and responses, one response per request, in order.

// maxFrame bounds one frame; a poll of 10,000 points is well under 1 MiB.
const maxFrame = 64 << 20

type request struct {
	ID       uint64 `cbor:"1,keyasint"`
	Deadline int64  `cbor:"2,keyasint,omitempty"` // Unix ns; 0: none
	Close    bool   `cbor:"3,keyasint,omitempty"`
}

type response struct {
	ID      uint64           `cbor:"1,keyasint"`
	Samples []wireSample     `cbor:"2,keyasint,omitempty"`
	Err     string           `cbor:"3,keyasint,omitempty"`
	Stats   *protocols.Stats `cbor:"4,keyasint,omitempty"`
}

// wireSample is a protocols.Sample with its value in a typed field, so it
// arrives as the same Go type, and times as Unix ns (nil: zero time).
type wireSample struct {
	Point      string   `cbor:"1,keyasint"`
	Unit       string   `cbor:"2,keyasint,omitempty"`
	Quality    uint8    `cbor:"3,keyasint,omitempty"`
	Reason     string   `cbor:"4,keyasint,omitempty"`
	SourceTime *int64   `cbor:"5,keyasint,omitempty"`
	Received   *int64   `cbor:"6,keyasint,omitempty"`
	F          *float64 `cbor:"7,keyasint,omitempty"`
	I          *int64   `cbor:"8,keyasint,omitempty"`
	B          *bool    `cbor:"9,keyasint,omitempty"`
	S          *string  `cbor:"10,keyasint,omitempty"`
}

func toWire(s protocols.Sample) (wireSample, error) {
	w := wireSample{Point: protocols.ValidText(s.Point), Unit: protocols.ValidText(s.Unit), Quality: uint8(s.Quality), Reason: protocols.ValidText(s.Reason),
		SourceTime: unixNano(s.SourceTime), Received: unixNano(s.Received)}
	switch v := s.Value.(type) {
	case nil:
	case float64:
		w.F = &v
	case int64:
		w.I = &v
	case bool:
		w.B = &v
	case string:
		if !utf8.ValidString(v) {
			// Never repaired: a changed value would be a forged one.
			return w, fmt.Errorf("point %s: string value is not valid UTF-8 (%d bytes)", s.Point, len(v))
		}
		w.S = &v
	default:
		return w, fmt.Errorf("point %s: value of type %T is not one of float64, int64, bool, string", s.Point, s.Value)
	}
	return w, nil
}

func fromWire(w wireSample) protocols.Sample {
	s := protocols.Sample{Point: w.Point, Unit: w.Unit, Quality: protocols.Quality(w.Quality), Reason: w.Reason,
		SourceTime: fromUnixNano(w.SourceTime), Received: fromUnixNano(w.Received)}
	switch {
	case w.F != nil:
		s.Value = *w.F
	case w.I != nil:
		s.Value = *w.I
	case w.B != nil:
		s.Value = *w.B
	case w.S != nil:
		s.Value = *w.S
	}
	return s
}

func unixNano(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	n := t.UnixNano()
	return &n
}

func fromUnixNano(n *int64) time.Time {
	if n == nil {
		return time.Time{}
	}
	return time.Unix(0, *n).UTC()
}

func writeFrame(w io.Writer, v any) error {
	b, err := cbor.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) > maxFrame {
		return fmt.Errorf("frame of %d bytes over the %d limit", len(b), maxFrame)
	}
	buf := make([]byte, 4, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	_, err = w.Write(append(buf, b...))
	return err
}

// readFrame reads one frame into v; io.EOF when the stream ended between
// frames.
func readFrame(r io.Reader, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxFrame {
		return fmt.Errorf("frame of %d bytes over the %d limit", n, maxFrame)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return cbor.Unmarshal(b, v)
}
