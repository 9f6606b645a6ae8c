package coap

import (
	"fmt"
	"strings"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"

	"github.com/wotchain/wotchain/protocols"
)

// value is one decoded value of a point. A SenML pack may hold several
// values for one point; other formats hold one.
type value struct {
	v    any       // int64, float64, bool or string; nil when err is set
	unit string    // unit carried by the payload (SenML), used when the point has none
	at   time.Time // the device's timestamp (SenML); zero when it gives none
	err  error     // why this value alone is unusable (one bad SenML record)
}

// decodePoint decodes a point's values from a representation. now is when
// it was received: SenML relative times count from it.
func decodePoint(p Point, r response, now time.Time) ([]value, error) {
	if p.format() == FormatSenML {
		var entries []senmlEntry
		var err error
		if senmlIsCBOR(r) {
			entries, err = decodeSenMLCBOR(r.payload, now, p.dataEncoding())
		} else {
			entries, err = decodeSenMLJSON(r.payload, now, p.dataEncoding())
		}
		if err != nil {
			return nil, err
		}
		return senmlValues(entries, p.SenMLName)
	}
	v, err := decode(p.format(), r.payload, p.Field)
	if err != nil {
		return nil, err
	}
	return []value{{v: v}}, nil
}

// senmlIsCBOR picks the SenML representation from the content format, or
// from the first byte when the device sends none or a generic one: a CBOR
// array starts with major type 4 (0x80-0x9f), which no JSON text does.
func senmlIsCBOR(r response) bool {
	if r.hasFormat {
		switch r.format {
		case message.AppSenmlCbor, message.AppCBOR:
			return true
		case message.AppSenmlJSON, message.AppJSON:
			return false
		}
	}
	return len(r.payload) > 0 && r.payload[0]>>5 == 4
}

// pointSamples turns one response into the point's samples. verb is "GET"
// or "observe", for reasons. now is the poll's time, used for SenML
// relative times when the response is not a notification.
func pointSamples(p Point, verb, path string, r response, now time.Time) []protocols.Sample {
	bad := protocols.Sample{Point: p.Name, Unit: p.Unit, Quality: protocols.Bad, Received: r.received}
	switch {
	case r.err != nil:
		bad.Reason = r.err.Error()
		return []protocols.Sample{bad}
	case r.code != codes.Content:
		bad.Reason = fmt.Sprintf("%s %s: device answered %s", verb, path, describeCode(r.code, r.payload))
		return []protocols.Sample{bad}
	case r.bodyErr != nil:
		bad.Reason = fmt.Sprintf("%s %s: cannot read payload: %v", verb, path, r.bodyErr)
		return []protocols.Sample{bad}
	}
	if !r.received.IsZero() {
		now = r.received
	}
	values, err := decodePoint(p, r, now)
	if err != nil {
		bad.Reason = fmt.Sprintf("%s %s: %v%s", verb, path, err, formatHint(p.format(), r))
		return []protocols.Sample{bad}
	}
	out := make([]protocols.Sample, len(values))
	for i, v := range values {
		s := protocols.Sample{Point: p.Name, Unit: p.Unit, Value: v.v, Quality: protocols.Good,
			SourceTime: v.at, Received: r.received}
		if s.Unit == "" {
			s.Unit = v.unit
		}
		if v.err != nil {
			s.Value, s.Quality = nil, protocols.Bad
			s.Reason = fmt.Sprintf("%s %s: %v", verb, path, v.err)
		}
		out[i] = s
	}
	return out
}

// lossSample makes a lost notification visible in the stored data: a Bad
// sample without a value, ahead of the point's surviving notifications.
func lossSample(p Point, path string, l loss, capacity int) protocols.Sample {
	return protocols.Sample{
		Point:   p.Name,
		Unit:    p.Unit,
		Quality: protocols.Bad,
		Reason: fmt.Sprintf("observe %s: %d notification(s) lost between %s and %s: buffer of %d full "+
			"(raise observe_buffer or poll more often)", path, l.count,
			l.first.UTC().Format(time.RFC3339Nano), l.last.UTC().Format(time.RFC3339Nano), capacity),
		Received: l.last,
	}
}

// describeCode renders a response code the way CoAP documents it
// ("4.04 NotFound"), plus the diagnostic payload a server may attach to
// error responses (RFC 7252 §5.5.2).
func describeCode(c codes.Code, diagnostic []byte) string {
	out := fmt.Sprintf("%d.%02d %v", uint16(c)>>5, uint16(c)&0x1f, c)
	if d := strings.TrimSpace(string(diagnostic)); d != "" && c >= codes.BadRequest {
		out += ": " + quote(d)
	}
	return out
}

// formatHint explains a decode failure caused by the device sending a
// different content format than the point is configured for.
func formatHint(format string, r response) string {
	if !r.hasFormat {
		return ""
	}
	var want []message.MediaType
	switch format {
	case FormatJSON:
		want = []message.MediaType{message.AppJSON}
	case FormatCBOR:
		want = []message.MediaType{message.AppCBOR}
	case FormatSenML:
		want = []message.MediaType{message.AppSenmlJSON, message.AppSenmlCbor}
	default:
		want = []message.MediaType{message.TextPlain}
	}
	for _, w := range want {
		if r.format == w {
			return ""
		}
	}
	return fmt.Sprintf(" (device sent content-format %v)", r.format)
}
