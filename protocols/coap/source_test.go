package coap

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/protocols"
	"github.com/wotchain/wotchain/protocols/coap/coapsim"
)

// testTimeout keeps failure paths fast; loopback answers in microseconds.
const testTimeout = 500 * time.Millisecond

func newSource(t *testing.T, url string, points ...Point) *Source {
	t.Helper()
	return newSourceCfg(t, Config{URL: url, Points: points})
}

func newSourceCfg(t *testing.T, cfg Config) *Source {
	t.Helper()
	src, err := New(cfg, protocols.Options{
		DeviceID: "test-device",
		Timeout:  testTimeout,
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

func demoPoints() []Point {
	return []Point{
		{Name: "humidity", Path: coapsim.PathHumidity, Unit: "%"},
		{Name: "temperature", Path: coapsim.PathEnv, Format: FormatJSON, Field: "temperature", Unit: "degC"},
		{Name: "co2", Path: coapsim.PathEnv, Format: FormatJSON, Field: "co2", Unit: "ppm"},
		{Name: "fan", Path: coapsim.PathEnv, Format: FormatJSON, Field: "fan"},
		{Name: "site", Path: coapsim.PathEnv, Format: FormatJSON, Field: "site"},
		{Name: "door", Path: coapsim.PathDoor},
	}
}

func poll(t *testing.T, src *Source) map[string]protocols.Sample {
	t.Helper()
	samples := pollList(t, src)
	byName := make(map[string]protocols.Sample, len(samples))
	for _, s := range samples {
		byName[s.Point] = s
	}
	return byName
}

// pollList polls once and fails the test on an error.
func pollList(t *testing.T, src *Source) []protocols.Sample {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	samples, err := src.Poll(ctx)
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	return samples
}

func TestPollDemoPoints(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	src := newSource(t, sim.URL(), demoPoints()...)

	type want struct {
		value any
		unit  string
	}
	steps := []map[string]want{
		{ // step 0
			"humidity":    {45.0, "%"},
			"temperature": {22.5, "degC"},
			"co2":         {int64(415), "ppm"},
			"fan":         {true, ""},
			"site":        {"line-1", ""},
			"door":        {false, ""},
		},
		{ // step 1: every varying value moves
			"humidity":    {45.4, "%"},
			"temperature": {23.0, "degC"}, // must stay float64 although integral
			"co2":         {int64(420), "ppm"},
			"fan":         {true, ""},
			"site":        {"line-1", ""},
			"door":        {true, ""},
		},
	}
	for i, wants := range steps {
		if i > 0 {
			sim.Tick()
		}
		got := poll(t, src)
		if len(got) != len(wants) {
			t.Fatalf("step %d: got %d samples, want %d", i, len(got), len(wants))
		}
		for name, w := range wants {
			s := got[name]
			if s.Quality != protocols.Good || s.Reason != "" {
				t.Errorf("step %d %s: quality %v reason %q", i, name, s.Quality, s.Reason)
			}
			if s.Value != w.value { // compares dynamic type as well
				t.Errorf("step %d %s: value %#v (%T), want %#v (%T)", i, name, s.Value, s.Value, w.value, w.value)
			}
			if s.Unit != w.unit || !s.SourceTime.IsZero() {
				t.Errorf("step %d %s: unit %q source time %v", i, name, s.Unit, s.SourceTime)
			}
		}
	}
}

func TestPollKeepsConfigOrder(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	pts := demoPoints()
	src := newSource(t, sim.URL(), pts...)
	samples, err := src.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range samples {
		if s.Point != pts[i].Name {
			t.Fatalf("samples[%d] = %s, want %s", i, s.Point, pts[i].Name)
		}
	}
}

func TestSharedPathIsFetchedOnce(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	src := newSource(t, sim.URL(), demoPoints()...)
	for range 3 {
		poll(t, src)
	}
	for path, want := range map[string]int{coapsim.PathEnv: 3, coapsim.PathHumidity: 3, coapsim.PathDoor: 3} {
		if got := sim.Requests(path); got != want {
			t.Errorf("%s: %d requests, want %d", path, got, want)
		}
	}
}

func TestNotFoundIsBadOthersGood(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	src := newSource(t, sim.URL(),
		Point{Name: "humidity", Path: coapsim.PathHumidity},
		Point{Name: "ghost", Path: "/sensors/ghost", Unit: "V"},
	)
	got := poll(t, src)
	if s := got["humidity"]; s.Quality != protocols.Good {
		t.Errorf("humidity: %v %q", s.Quality, s.Reason)
	}
	s := got["ghost"]
	if s.Quality != protocols.Bad || s.Value != nil || s.Unit != "V" {
		t.Fatalf("ghost: %+v, want Bad with nil value", s)
	}
	if !strings.Contains(s.Reason, "4.04") || !strings.Contains(s.Reason, "/sensors/ghost") {
		t.Errorf("ghost reason %q should name the code and path", s.Reason)
	}
}

func TestUndecodablePayloadIsBad(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	sim.Set(coapsim.PathHumidity, "text", []byte("sensor fault"))
	sim.Set("/sensors/raw", "json", []byte(`{"v": null}`))
	src := newSource(t, sim.URL(),
		Point{Name: "humidity", Path: coapsim.PathHumidity},
		Point{Name: "v", Path: "/sensors/raw", Format: FormatJSON, Field: "v"},
		Point{Name: "wrong_format", Path: coapsim.PathEnv}, // JSON served, text configured
		Point{Name: "door", Path: coapsim.PathDoor},
	)
	got := poll(t, src)
	for name, reason := range map[string]string{
		"humidity":     `not a number or boolean: "sensor fault"`,
		"v":            `field "v" is null`,
		"wrong_format": "content-format application/json",
	} {
		if s := got[name]; s.Quality != protocols.Bad || !strings.Contains(s.Reason, reason) {
			t.Errorf("%s: %v %q, want Bad containing %q", name, s.Quality, s.Reason, reason)
		}
	}
	if s := got["door"]; s.Quality != protocols.Good {
		t.Errorf("door: %v %q", s.Quality, s.Reason)
	}
}

func TestPollRecoversAfterDeviceRestart(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	addr := sim.Addr()
	src := newSource(t, sim.URL(), demoPoints()...)
	poll(t, src)

	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := src.Poll(context.Background())
	if err == nil {
		t.Fatal("Poll succeeded with the device gone")
	}
	if !strings.Contains(err.Error(), "test-device") {
		t.Errorf("error %q should name the device", err)
	}
	if d := time.Since(start); d > 2*testTimeout {
		t.Errorf("failing poll took %v, want about one timeout at most", d)
	}

	startSim(t, addr) // same port: the device came back
	got := poll(t, src)
	if s := got["co2"]; s.Quality != protocols.Good || s.Value != int64(415) {
		t.Fatalf("co2 after restart: %+v", s)
	}
}

func TestPollDeadDeviceAtStartup(t *testing.T) {
	// Reserve a port, then free it so nothing answers there.
	sim := startSim(t, "127.0.0.1:0")
	url := sim.URL()
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	src := newSource(t, url, demoPoints()...) // New must not need the device
	if _, err := src.Poll(context.Background()); err == nil {
		t.Fatal("Poll succeeded with no device")
	}
}

func TestPollAfterClose(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	src := newSource(t, sim.URL(), demoPoints()...)
	poll(t, src)
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := src.Poll(context.Background()); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Poll after Close: %v", err)
	}
}

func TestPollCancelled(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	src := newSource(t, sim.URL(), demoPoints()...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := src.Poll(ctx); err == nil {
		t.Fatal("Poll with cancelled context succeeded")
	}
	poll(t, src) // the connection is still usable afterwards
}

func TestSilentResourcesAreBadOthersGood(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	// Hung sensor tasks: no answer for these paths. Two of them, among
	// five resources, so a client that waits for each answer before the
	// next request cannot pass by luck of ordering.
	sim.Silence(coapsim.PathEnv)
	sim.Silence(coapsim.PathHumidity)
	src := newSource(t, sim.URL(), append(demoPoints(),
		Point{Name: "counter", Path: coapsim.PathCBOR, Format: FormatCBOR, Field: "counter"},
		Point{Name: "total", Path: coapsim.PathLarge, Format: FormatJSON, Field: "total"})...)
	start := time.Now()
	got := poll(t, src)
	for _, name := range []string{"humidity", "temperature", "co2", "fan", "site"} {
		if s := got[name]; s.Quality != protocols.Bad || !strings.Contains(s.Reason, "no response within 500ms") {
			t.Errorf("%s: %v %q, want Bad timeout", name, s.Quality, s.Reason)
		}
	}
	for _, name := range []string{"door", "counter", "total"} {
		if s := got[name]; s.Quality != protocols.Good {
			t.Errorf("%s: %v %q, want Good: silent resources must not hide the others", name, s.Quality, s.Reason)
		}
	}
	if d := time.Since(start); d > 2*testTimeout {
		t.Errorf("poll took %v, want about one timeout", d)
	}
}
