package coap

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"

	"github.com/wotchain/wotchain/protocols"
	"github.com/wotchain/wotchain/protocols/coap/coapsim"
)

func TestGroupByPath(t *testing.T) {
	cfg := Config{Points: []Point{
		{Name: "a", Path: "/x"}, {Name: "b", Path: "/y", Observe: ptr(true)}, {Name: "c", Path: "/x"}, {Name: "d", Path: "/y", Observe: ptr(true)},
	}, ObserveBuffer: 5}
	got := groupByPath(&cfg)
	if len(got) != 2 || got[0].path != "/x" || got[1].path != "/y" {
		t.Fatalf("paths = %+v", got)
	}
	if len(got[0].points) != 2 || got[0].points[1] != 2 || got[0].obs != nil {
		t.Errorf("/x = %+v, want points 0 and 2, polled", got[0])
	}
	if len(got[1].points) != 2 || got[1].obs == nil || got[1].obs.buf.capacity != 5 {
		t.Errorf("/y = %+v, want points 1 and 3, observed with a buffer of 5", got[1])
	}
}

func TestPointSamples(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	senml := Point{Name: "temp", Format: FormatSenML, SenMLName: coapsim.SenMLBaseName + "temp"}
	content := func(mt message.MediaType, payload []byte) response {
		return response{code: codes.Content, format: mt, hasFormat: true, payload: payload}
	}
	tests := []struct {
		name    string
		point   Point
		resp    response
		values  []any
		reasons []string // per sample; "" means Good
	}{
		{name: "text", point: Point{Name: "h"}, resp: content(message.TextPlain, []byte("45.5")), values: []any{45.5}, reasons: []string{""}},
		{name: "transport error", point: Point{Name: "h"}, resp: response{err: errors.New("GET /h: no response within 1s")},
			values: []any{nil}, reasons: []string{"GET /h: no response within 1s"}},
		{name: "error code with diagnostic", point: Point{Name: "h"}, resp: response{code: codes.ServiceUnavailable, payload: []byte("warming up")},
			values: []any{nil}, reasons: []string{`GET /p: device answered 5.03 ServiceUnavailable: "warming up"`}},
		{name: "wrong content format", point: Point{Name: "h", Format: FormatJSON, Field: "v"}, resp: content(message.AppCBOR, []byte{0xa0}),
			values: []any{nil}, reasons: []string{"(device sent content-format application/cbor)"}},
		{name: "senml json, several records", point: senml, resp: content(message.AppSenmlJSON, coapsimSenML(t, "json")),
			values: []any{20.0, 20.25, 20.5}, reasons: []string{"", "", ""}},
		{name: "senml cbor sniffed without content format", point: senml,
			resp:   response{code: codes.Content, payload: coapsimSenML(t, "cbor")},
			values: []any{20.0, 20.25, 20.5}, reasons: []string{"", "", ""}},
		{name: "senml name missing", point: Point{Name: "x", Format: FormatSenML, SenMLName: "urn:x"},
			resp: content(message.AppSenmlJSON, coapsimSenML(t, "json")), values: []any{nil}, reasons: []string{`no record named "urn:x"`}},
		{name: "senml one bad record among good", point: Point{Name: "a", Format: FormatSenML, SenMLName: "a"},
			resp:   content(message.AppSenmlJSON, []byte(`[{"n":"a","v":1},{"n":"a"},{"n":"a","v":3}]`)),
			values: []any{1.0, nil, 3.0}, reasons: []string{"", "record 1 (\"a\"): no value", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := pointSamples(tt.point, "GET", "/p", tt.resp, now)
			if len(got) != len(tt.values) {
				t.Fatalf("got %d samples, want %d: %+v", len(got), len(tt.values), got)
			}
			for i, s := range got {
				if s.Point != tt.point.Name || s.Value != tt.values[i] {
					t.Errorf("sample %d = %+v, want value %#v", i, s, tt.values[i])
				}
				wantGood := tt.reasons[i] == ""
				if wantGood != (s.Quality == protocols.Good) || !strings.Contains(s.Reason, tt.reasons[i]) {
					t.Errorf("sample %d: %v %q, want reason %q", i, s.Quality, s.Reason, tt.reasons[i])
				}
			}
		})
	}
}

func TestPointSamplesSenMLTimesAndUnits(t *testing.T) {
	p := Point{Name: "temp", Format: FormatSenML, SenMLName: coapsim.SenMLBaseName + "temp"}
	got := pointSamples(p, "observe", "/s", response{code: codes.Content, format: message.AppSenmlJSON, hasFormat: true,
		payload: coapsimSenML(t, "json"), received: receivedAt}, time.Time{})
	bt := time.Unix(coapsim.SenMLBaseTime, 0).UTC()
	for i, s := range got {
		if want := bt.Add(time.Duration(i-2) * time.Second); !s.SourceTime.Equal(want) {
			t.Errorf("sample %d source time %v, want %v", i, s.SourceTime, want)
		}
		if s.Unit != "Cel" || !s.Received.Equal(receivedAt) {
			t.Errorf("sample %d unit %q received %v, want the record's unit and the notification's time", i, s.Unit, s.Received)
		}
	}
	p.Unit = "degC" // the configured unit wins
	if s := pointSamples(p, "GET", "/s", response{code: codes.Content, payload: coapsimSenML(t, "json")}, receivedAt)[0]; s.Unit != "degC" {
		t.Errorf("unit %q, want the configured degC", s.Unit)
	}
}

func TestLossSample(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := lossSample(Point{Name: "door", Unit: "bool"}, "/door", loss{count: 7, first: t0, last: t0.Add(time.Second)}, 64)
	if s.Quality != protocols.Bad || s.Value != nil || !s.Received.Equal(t0.Add(time.Second)) {
		t.Fatalf("loss sample %+v, want Bad without value received at the last loss", s)
	}
	for _, want := range []string{"/door", "7 notification(s) lost", "2026-01-02T03:04:05Z", "buffer of 64 full", "observe_buffer"} {
		if !strings.Contains(s.Reason, want) {
			t.Errorf("reason %q lacks %q", s.Reason, want)
		}
	}
}

func TestDescribeCode(t *testing.T) {
	for code, want := range map[codes.Code]string{
		codes.NotFound:           "4.04 NotFound",
		codes.ServiceUnavailable: "5.03 ServiceUnavailable",
		codes.Changed:            "2.04 Changed",
	} {
		if got := describeCode(code, nil); got != want {
			t.Errorf("describeCode(%d) = %q, want %q", code, got, want)
		}
	}
}

// coapsimSenML is the simulator's SenML demo pack at step 0.
func coapsimSenML(t *testing.T, kind string) []byte {
	t.Helper()
	path := coapsim.PathSenMLJSON
	if kind == "cbor" {
		path = coapsim.PathSenMLCBOR
	}
	_, payload, ok := coapsim.Payload(path, 0)
	if !ok {
		t.Fatalf("no demo payload for %s", path)
	}
	return payload
}
