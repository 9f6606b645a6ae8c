package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/bridge/poll"
	"github.com/wotchain/wotchain/protocols"
)

const appID = pipelinetest.ApplianceID

// chain is a real store filled through ingest, seal and the outbox.
type chain struct{ *pipelinetest.Chain }

var devicesUnderTest = []string{"boiler-1", "press-2"}

// newChain ingests polls of the given sizes (devices alternating), seals
// blocks of at most 5 readings and anchors them all.
func newChain(t *testing.T, sizes ...int) *chain {
	t.Helper()
	c := &chain{pipelinetest.New(t, pipelinetest.WithMaxReadings(5), pipelinetest.WithDevices(devicesUnderTest...),
		pipelinetest.WithStart(time.Unix(1_700_000_000, 0).UTC()))}
	c.Anchor(t, sizes...)
	return c
}

// fakeDevices is a Devices source the test changes between requests.
type fakeDevices struct {
	mu   sync.Mutex
	list []DeviceStatus
}

func (f *fakeDevices) Devices() []DeviceStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]DeviceStatus, len(f.list))
	copy(out, f.list)
	return out
}

func (f *fakeDevices) set(list []DeviceStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list = list
}

var lastGood = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// twoDevices returns a healthy Modbus device with stats and a failing OPC UA
// device without, in the order press-2, boiler-1 (the server sorts).
func twoDevices(temperature float64) []DeviceStatus {
	return []DeviceStatus{
		{
			ID: "press-2", Protocol: "opcua", Interval: 5 * time.Second,
			Health: poll.Health{Polls: 10, Errors: 4, ConsecutiveErrors: 3, Readings: 12, LastGood: lastGood.Add(-time.Minute),
				LastError: "dial tcp 127.0.0.1:4840: connection refused", LastDuration: 2 * time.Second},
		},
		{
			ID: "boiler-1", Protocol: "modbus", Interval: time.Second,
			Health: poll.Health{Polls: 42, Errors: 1, Readings: 84, LastGood: lastGood, LastDuration: 25 * time.Millisecond},
			Stats:  &protocols.Stats{Connected: true, Reconnects: 2, RequestsLastPoll: 3, RequestsTotal: 126},
			Last: []poll.PointValue{
				{Point: "pressure", Value: int64(7), Unit: "bar", Quality: protocols.Good, Time: lastGood, Seq: 83},
				{Point: "temperature", Value: temperature, Unit: "degC", Quality: protocols.Good, Time: lastGood, Seq: 84},
			},
		},
	}
}

type env struct {
	c   *chain
	dev *fakeDevices
	srv *Server
}

// newEnv serves a chain of 17 anchored readings plus two pending blocks,
// the lower of them uploaded.
func newEnv(t *testing.T, mod ...func(*Options)) *env {
	t.Helper()
	c := newChain(t, 3, 2, 4, 1, 5, 2)
	c.Ingest(t, 3, 3)
	c.Seal(t)
	c.Step(t) // lowest pending block: sealed -> uploaded
	e := &env{c: c, dev: &fakeDevices{list: twoDevices(21.5)}}
	opts := Options{
		ApplianceID: appID, Store: c.Store, Devices: e.dev, OwnerKey: c.Owner,
		Pipeline: PipelineFunc(func() PipelineCounters {
			return PipelineCounters{StorageErrors: 2, LedgerErrors: 5, LastAnchorError: "anchor block 4: signing key revoked"}
		}),
		Logger: slog.New(slog.DiscardHandler),
	}
	for _, m := range mod {
		m(&opts)
	}
	e.srv = New(opts)
	return e
}

// get performs a request against the handler.
func (e *env) get(t *testing.T, target string) *httptest.ResponseRecorder {
	t.Helper()
	return httptestGet(e.srv, target)
}

// getJSON requests target, wants status code and decodes the body into v.
func (e *env) getJSON(t *testing.T, target string, code int, v any) {
	t.Helper()
	w := e.get(t, target)
	if w.Code != code {
		t.Fatalf("GET %s: status %d, want %d; body %s", target, w.Code, code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: content type %q", target, ct)
	}
	// Decode into a fresh value: fields absent from this response must not
	// keep values from an earlier one.
	rv := reflect.ValueOf(v).Elem()
	rv.Set(reflect.Zero(rv.Type()))
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		t.Fatalf("GET %s: %v in %s", target, err, w.Body)
	}
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func httptestGet(srv *Server, target string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	srv.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
	return w
}
