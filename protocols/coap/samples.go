package coap

import (
	"fmt"
	"strings"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"

	"github.com/wotchain/wotchain/protocols"
)

// response is what one GET produced, detached from go-coap's pooled message.
type response struct {
	err       error // transport failure or timeout: there was no answer
	code      codes.Code
	format    message.MediaType
	hasFormat bool
	payload   []byte
	bodyErr   error
}

// buildSamples maps responses (one per resource) to samples (one per point,
// in configuration order). It fails only when no resource answered at all:
// then the device, not a resource, is the problem and the caller should
// reconnect. Resources that did not answer while others did become Bad.
func buildSamples(points []Point, resources []resource, results []response) ([]protocols.Sample, error) {
	var failures []error
	for _, r := range results {
		if r.err != nil {
			failures = append(failures, r.err)
		}
	}
	if len(failures) == len(results) && len(results) > 0 {
		// The first failure is representative (they share the socket); one
		// line keeps the log readable.
		return nil, fmt.Errorf("no resource answered (%d requests failed), first: %w", len(failures), failures[0])
	}

	samples := make([]protocols.Sample, len(points))
	for i, res := range resources {
		for _, pi := range res.points {
			samples[pi] = pointSample(points[pi], res.path, results[i])
		}
	}
	return samples, nil
}

// pointSample decodes one point from its resource's response.
func pointSample(p Point, path string, r response) protocols.Sample {
	s := protocols.Sample{Point: p.Name, Unit: p.Unit, Quality: protocols.Bad}
	switch {
	case r.err != nil:
		s.Reason = r.err.Error()
	case r.code != codes.Content:
		s.Reason = fmt.Sprintf("GET %s: device answered %s", path, describeCode(r.code, r.payload))
	case r.bodyErr != nil:
		s.Reason = fmt.Sprintf("GET %s: cannot read payload: %v", path, r.bodyErr)
	default:
		v, err := decode(p.format(), r.payload, p.Field)
		if err != nil {
			s.Reason = fmt.Sprintf("GET %s: %v%s", path, err, formatHint(p.format(), r))
			return s
		}
		s.Value, s.Quality = v, protocols.Good
	}
	return s
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
	want := message.TextPlain
	if format == FormatJSON {
		want = message.AppJSON
	}
	if r.format == want {
		return ""
	}
	return fmt.Sprintf(" (device sent content-format %v)", r.format)
}
