package opcua_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"

	"github.com/wotchain/wotchain/protocols"
	"github.com/wotchain/wotchain/protocols/opcua"
	"github.com/wotchain/wotchain/protocols/opcua/opcuasim"
)

func demoPoints(sim *opcuasim.Sim) []opcua.Point {
	return []opcua.Point{
		{Name: "temperature", NodeID: sim.NodeID(opcuasim.Temperature), Unit: "°C"},
		{Name: "pressure", NodeID: sim.NodeID(opcuasim.Pressure), Unit: "bar"},
		{Name: "running", NodeID: sim.NodeID(opcuasim.Running)},
		{Name: "mode", NodeID: sim.NodeID(opcuasim.Mode)},
		{Name: "burner_starts", NodeID: sim.NodeID(opcuasim.BurnerStarts)},
	}
}

func poll(t *testing.T, src *opcua.Source) map[string]protocols.Sample {
	t.Helper()
	samples, err := src.Poll(t.Context())
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	bySample := make(map[string]protocols.Sample, len(samples))
	for _, s := range samples {
		bySample[s.Point] = s
	}
	return bySample
}

func TestSimNodeIDs(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	// The documented ids must be the ones the sim serves.
	if got, want := sim.NodeID(opcuasim.Temperature), "ns=1;s=Boiler.Temperature"; got != want {
		t.Fatalf("NodeID = %q, want %q", got, want)
	}
	if u, err := url.Parse(sim.Endpoint()); err != nil || u.Scheme != "opc.tcp" || u.Hostname() != "127.0.0.1" || u.Port() == "0" {
		t.Fatalf("Endpoint = %q, want opc.tcp://127.0.0.1:<port>", sim.Endpoint())
	}
}

func TestPollDemoPoints(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	src := newSource(t, sim.Endpoint(), demoPoints(sim))

	got := poll(t, src)
	want := map[string]any{
		"temperature":   85.0,
		"pressure":      2.5,
		"running":       true,
		"mode":          "auto",
		"burner_starts": int64(0),
	}
	checkSamples(t, got, want)
	if u := got["temperature"].Unit; u != "°C" {
		t.Errorf("temperature unit = %q, want °C", u)
	}

	// One tick moves every demo value by a predictable step.
	sim.Tick()
	got = poll(t, src)
	want["temperature"], want["pressure"], want["burner_starts"] = 85.31, 2.52, int64(1)
	checkSamples(t, got, want)
}

func checkSamples(t *testing.T, got map[string]protocols.Sample, want map[string]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d samples, want %d", len(got), len(want))
	}
	for name, v := range want {
		s := got[name]
		if s.Quality != protocols.Good || s.Reason != "" {
			t.Errorf("%s: quality %v (%q), want good", name, s.Quality, s.Reason)
		}
		if s.Value != v {
			t.Errorf("%s: value %#v (%T), want %#v (%T)", name, s.Value, s.Value, v, v)
		}
		if age := time.Since(s.SourceTime); s.SourceTime.IsZero() || age < 0 || age > time.Minute {
			t.Errorf("%s: source time %v is not recent", name, s.SourceTime)
		}
	}
}

func TestPollUnknownNodeIsBad(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	points := append(demoPoints(sim), opcua.Point{Name: "ghost", NodeID: sim.NodeID("Boiler.Ghost")})
	src := newSource(t, sim.Endpoint(), points)

	got := poll(t, src)
	ghost := got["ghost"]
	if ghost.Quality != protocols.Bad || ghost.Value != nil || !strings.Contains(ghost.Reason, "BadNodeIDUnknown") {
		t.Fatalf("ghost = %+v, want Bad with nil value and reason BadNodeIDUnknown", ghost)
	}
	for _, p := range demoPoints(sim) {
		if s := got[p.Name]; s.Quality != protocols.Good {
			t.Errorf("%s: quality %v (%q), want good", p.Name, s.Quality, s.Reason)
		}
	}
}

func TestPollStatusMapsToQuality(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	src := newSource(t, sim.Endpoint(), demoPoints(sim))

	sim.SetStatus(opcuasim.Temperature, ua.StatusUncertainLastUsableValue)
	sim.SetStatus(opcuasim.Pressure, ua.StatusBadSensorFailure)
	got := poll(t, src)

	temp := got["temperature"]
	if temp.Quality != protocols.Uncertain || temp.Value != 85.0 || !strings.Contains(temp.Reason, "UncertainLastUsableValue") {
		t.Errorf("temperature = %+v, want Uncertain keeping 85.0 with reason UncertainLastUsableValue", temp)
	}
	pres := got["pressure"]
	if pres.Quality != protocols.Bad || pres.Value != 2.5 || !strings.Contains(pres.Reason, "BadSensorFailure") {
		t.Errorf("pressure = %+v, want Bad keeping 2.5 with reason BadSensorFailure", pres)
	}
	if s := got["mode"]; s.Quality != protocols.Good {
		t.Errorf("mode: quality %v, want good", s.Quality)
	}

	sim.SetStatus(opcuasim.Temperature, ua.StatusOK)
	if s := poll(t, src)["temperature"]; s.Quality != protocols.Good {
		t.Errorf("after clearing the status: quality %v (%q), want good", s.Quality, s.Reason)
	}
}

func TestPollReconnectsAfterServerRestart(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	u, err := url.Parse(sim.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	src := newSource(t, sim.Endpoint(), demoPoints(sim))
	poll(t, src)

	if err := sim.Close(); err != nil {
		t.Fatalf("close sim: %v", err)
	}
	start := time.Now()
	if _, err := src.Poll(t.Context()); err == nil {
		t.Fatal("Poll succeeded with the server gone")
	} else if !strings.Contains(err.Error(), "boiler-1") {
		t.Errorf("Poll error %q does not name the device", err)
	}
	// And again while it stays down: the failed connect must not stick.
	if _, err := src.Poll(t.Context()); err == nil {
		t.Fatal("second Poll succeeded with the server gone")
	}
	if d := time.Since(start); d > 3*testTimeout {
		t.Errorf("failing polls took %v", d)
	}

	sim2 := startSim(t, u.Host)
	sim2.Tick()
	// The failed attempts put the source in backoff; it must come back
	// within the first few delays.
	got := byPoint(pollUntilOK(t, src, 5*time.Second))
	if s := got["burner_starts"]; len(s) != 1 || s[0].Quality != protocols.Good || s[0].Value != int64(1) {
		t.Fatalf("after restart: burner_starts = %+v, want one good 1", s)
	}
	if st := src.Stats(); !st.Connected || st.Reconnects != 1 {
		t.Errorf("Stats = %+v, want connected with 1 reconnect", st)
	}
}

func TestPollAfterCloseFails(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	src := newSource(t, sim.Endpoint(), demoPoints(sim))
	poll(t, src)
	if err := src.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := src.Poll(context.Background()); !errors.Is(err, opcua.ErrClosed) {
		t.Fatalf("Poll after Close = %v, want ErrClosed", err)
	}
}
