package httpapi

import (
	"context"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/ingest"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/ledger"
	"github.com/wotchain/wotchain/bridge/objstore"
	"github.com/wotchain/wotchain/bridge/outbox"
	"github.com/wotchain/wotchain/bridge/poll"
	"github.com/wotchain/wotchain/bridge/seal"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/protocols"
)

const appID = "app-1"

// stored is one ingested reading as the test remembers it.
type stored struct {
	seq           uint64
	device, point string
	at            time.Time
	value         float64
}

// chain is a real store filled through ingest, seal and the outbox.
type chain struct {
	st       *store.Store
	in       *ingest.Ingester
	sealer   *seal.Sealer
	ob       *outbox.Outbox
	led      *ledger.Embedded
	fs       *objstore.FS
	pub      ed25519.PublicKey
	owner    hpke.PrivateKey
	clock    time.Time
	readings []stored
	polls    int
}

var devicesUnderTest = []string{"boiler-1", "press-2"}

// newChain ingests polls of the given sizes (devices alternating), seals
// blocks of at most 5 readings and anchors them all.
func newChain(t *testing.T, sizes ...int) *chain {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(dir + "/db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kem, err := hpke.NewKEM(keys.KEMX25519)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := kem.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	c := &chain{st: st, pub: pub, owner: owner, clock: time.Unix(1_700_000_000, 0).UTC()}
	if c.in, err = ingest.New(st, appID, priv, nil); err != nil {
		t.Fatal(err)
	}
	discard := slog.New(slog.DiscardHandler)
	c.led = ledger.NewEmbedded(st.Ledger(), "appliance", discard)
	id := c.led.Identity()
	if err := c.led.RegisterAppliance(context.Background(), rules.Appliance{ID: appID, PublicKey: pub, AnchorMSP: id.MSPID, AnchorID: id.ID}); err != nil {
		t.Fatal(err)
	}
	if c.fs, err = objstore.NewFS(dir + "/objects"); err != nil {
		t.Fatal(err)
	}
	if c.sealer, err = seal.New(st, appID, priv, []hpke.PublicKey{owner.PublicKey()}, 5); err != nil {
		t.Fatal(err)
	}
	c.ob = outbox.New(st, c.fs, c.led, discard)
	c.ingest(t, sizes...)
	c.seal(t)
	c.drain(t)
	return c
}

func (c *chain) ingest(t *testing.T, sizes ...int) {
	t.Helper()
	for _, n := range sizes {
		dev := devicesUnderTest[c.polls%2]
		samples := make([]protocols.Sample, n)
		c.clock = c.clock.Add(time.Second)
		next, err := c.st.NextSeq()
		if err != nil {
			t.Fatal(err)
		}
		for j := range samples {
			v := float64(next+uint64(j)) / 4
			samples[j] = protocols.Sample{Point: fmt.Sprintf("p%d", j), Value: v, Unit: "degC", Quality: protocols.Good}
			c.readings = append(c.readings, stored{seq: next + uint64(j), device: dev, point: samples[j].Point, at: c.clock, value: v})
		}
		first, _, err := c.in.Ingest(dev, samples, c.clock)
		if err != nil {
			t.Fatal(err)
		}
		if first != next {
			t.Fatalf("poll stored from seq %d, expected %d", first, next)
		}
		c.polls++
	}
}

func (c *chain) seal(t *testing.T) {
	t.Helper()
	if _, err := c.sealer.Seal(true); err != nil {
		t.Fatal(err)
	}
}

// step advances the outbox by one state change.
func (c *chain) step(t *testing.T) bool {
	t.Helper()
	busy, err := c.ob.Step(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return busy
}

func (c *chain) drain(t *testing.T) {
	t.Helper()
	for i := 0; c.step(t); i++ {
		if i > 200 {
			t.Fatal("outbox does not drain")
		}
	}
}

func (c *chain) block(t *testing.T, height uint64) *store.BlockRecord {
	t.Helper()
	rec, err := c.st.Block(height)
	if err != nil {
		t.Fatal(err)
	}
	return rec
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
	c.ingest(t, 3, 3)
	c.seal(t)
	c.step(t) // lowest pending block: sealed -> uploaded
	e := &env{c: c, dev: &fakeDevices{list: twoDevices(21.5)}}
	opts := Options{
		ApplianceID: appID, Store: c.st, Devices: e.dev, OwnerKey: c.owner,
		Pipeline: PipelineFunc(func() PipelineCounters { return PipelineCounters{StorageErrors: 2, LedgerErrors: 5} }),
		Logger:   slog.New(slog.DiscardHandler),
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
