package opcua_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"

	"github.com/wotchain/wotchain/internal/testserver"
	"github.com/wotchain/wotchain/protocols"
	"github.com/wotchain/wotchain/protocols/opcua"
	"github.com/wotchain/wotchain/protocols/opcua/opcuasim"
)

// subscribeConfig subscribes to burner_starts and temperature and polls
// mode, with a short publishing interval so tests run fast.
func subscribeConfig(endpoint, burnerStarts, mode string) opcua.Config {
	return opcua.Config{
		Endpoint:     endpoint,
		Mode:         opcua.ModeSubscribe,
		Subscription: opcua.Subscription{PublishingInterval: opcua.Duration(20 * time.Millisecond)},
		Points: []opcua.Point{
			{Name: "burner_starts", NodeID: burnerStarts},
			{Name: "temperature", NodeID: "ns=1;s=" + opcuasim.Temperature, Unit: "°C"},
			{Name: "mode", NodeID: mode, Mode: opcua.ModePoll},
		},
	}
}

func TestSubscriptionDeliversEveryChangeBetweenPolls(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	src := newSourceCfg(t, subscribeConfig(sim.Endpoint(), sim.NodeID(opcuasim.BurnerStarts), sim.NodeID(opcuasim.Mode)), "")

	// The first Poll connects and subscribes; the initial values follow.
	first := byPoint(pollUntilOK(t, src, 5*time.Second))
	if m := first["mode"]; len(m) != 1 || m[0].Value != "auto" || !m[0].Received.IsZero() {
		t.Fatalf("polled point mode = %+v, want one value 'auto' without Received", m)
	}
	testserver.WaitFor(t, 5*time.Second, "initial values", func() bool { return src.Buffered() == 2 })
	initial := byPoint(pollUntilOK(t, src, time.Second))
	if s := initial["burner_starts"]; len(s) != 1 || s[0].Value != int64(0) {
		t.Fatalf("initial burner_starts = %+v, want 0", s)
	}

	// Five changes between two polls: every one must arrive, in order.
	// Each tick waits for its delivery because gopcua's server keeps only
	// the last value per item between two publishes.
	before := time.Now()
	for i := 1; i <= 5; i++ {
		sim.Tick()
		testserver.WaitFor(t, 5*time.Second, "tick delivery", func() bool { return src.Buffered() == 2*i })
	}
	got := byPoint(pollUntilOK(t, src, time.Second))
	starts := got["burner_starts"]
	if len(starts) != 5 {
		t.Fatalf("burner_starts samples = %+v, want 5", starts)
	}
	prev := before
	for i, s := range starts {
		if s.Value != int64(i+1) || s.Quality != protocols.Good {
			t.Errorf("burner_starts[%d] = %v (%v), want good %d", i, s.Value, s.Quality, i+1)
		}
		if s.Received.Before(prev) || s.SourceTime.IsZero() {
			t.Errorf("burner_starts[%d]: received %v (previous %v), source time %v: want ordered receive times and a source time",
				i, s.Received, prev, s.SourceTime)
		}
		prev = s.Received
	}
	if temps := got["temperature"]; len(temps) != 5 || temps[0].Value != 85.31 || temps[0].Unit != "°C" {
		t.Errorf("temperature samples = %+v, want 5 starting at 85.31 °C", temps)
	}
	if m := got["mode"]; len(m) != 1 {
		t.Errorf("polled point mode: %d samples, want exactly 1 per poll", len(m))
	}
	// Nothing new: the subscribed points stay quiet, the polled one answers.
	if again := byPoint(pollUntilOK(t, src, time.Second)); len(again["burner_starts"]) != 0 || len(again["mode"]) != 1 {
		t.Errorf("poll without changes = %+v", again)
	}
}

func TestSubscriptionStatusBecomesQuality(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	src := newSourceCfg(t, subscribeConfig(sim.Endpoint(), sim.NodeID(opcuasim.BurnerStarts), sim.NodeID(opcuasim.Mode)), "")
	pollUntilOK(t, src, 5*time.Second)
	testserver.WaitFor(t, 5*time.Second, "initial values", func() bool { return src.Buffered() == 2 })
	pollUntilOK(t, src, time.Second)

	sim.SetStatus(opcuasim.BurnerStarts, ua.StatusBadSensorFailure)
	testserver.WaitFor(t, 5*time.Second, "bad status", func() bool { return src.Buffered() == 1 })
	sim.SetStatus(opcuasim.BurnerStarts, ua.StatusUncertainLastUsableValue)
	testserver.WaitFor(t, 5*time.Second, "uncertain status", func() bool { return src.Buffered() == 2 })

	s := byPoint(pollUntilOK(t, src, time.Second))["burner_starts"]
	if len(s) != 2 {
		t.Fatalf("burner_starts = %+v, want 2 samples", s)
	}
	if s[0].Quality != protocols.Bad || s[0].Value != int64(0) || !strings.Contains(s[0].Reason, "BadSensorFailure") {
		t.Errorf("first = %+v, want Bad keeping 0 with reason BadSensorFailure", s[0])
	}
	if s[1].Quality != protocols.Uncertain || !strings.Contains(s[1].Reason, "UncertainLastUsableValue") {
		t.Errorf("second = %+v, want Uncertain with reason UncertainLastUsableValue", s[1])
	}
}

// Five subscribed points at two per subscription: three subscriptions,
// each with its CreateSubscription and CreateMonitoredItems, all delivering.
func TestSubscriptionSpreadsItems(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	cfg := opcua.Config{
		Endpoint: sim.Endpoint(),
		Mode:     opcua.ModeSubscribe,
		Subscription: opcua.Subscription{
			PublishingInterval: opcua.Duration(20 * time.Millisecond), MaxItemsPerSubscription: 2,
		},
		Points: demoPoints(sim),
	}
	src := newSourceCfg(t, cfg, "")
	pollUntilOK(t, src, 5*time.Second)
	// GetEndpoints, CreateSession, ActivateSession, NamespaceArray, 3 × 2
	// for the subscriptions, and the liveness Read of the server state.
	if st := src.Stats(); st.RequestsLastPoll != 4+3*2+1 || !st.Connected {
		t.Errorf("first poll stats = %+v, want 11 requests and connected", st)
	}
	testserver.WaitFor(t, 5*time.Second, "initial values of all 5 points", func() bool { return src.Buffered() == 5 })
	got := byPoint(pollUntilOK(t, src, time.Second))
	for _, p := range demoPoints(sim) {
		if s := got[p.Name]; len(s) != 1 || s[0].Quality != protocols.Good || s[0].Received.IsZero() {
			t.Errorf("%s = %+v, want one good pushed value", p.Name, s)
		}
	}
	if st := src.Stats(); st.RequestsLastPoll != 1 || st.RequestsTotal != 12 {
		t.Errorf("second poll stats = %+v, want 1 request, 12 in total", st)
	}
}

// After the server restarts with its namespace renumbered, the source
// reconnects, resolves the "nsu=" ids again and re-creates the
// subscription.
func TestSubscriptionRecreatedAfterServerRestart(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	u, err := url.Parse(sim.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	cfg := subscribeConfig(sim.Endpoint(), opcuasim.NodeIDByURI(opcuasim.BurnerStarts), opcuasim.NodeIDByURI(opcuasim.Mode))
	cfg.Points = append(cfg.Points[:1], cfg.Points[2]) // burner_starts by URI, subscribed; mode by URI, polled
	src := newSourceCfg(t, cfg, "")
	pollUntilOK(t, src, 5*time.Second)
	testserver.WaitFor(t, 5*time.Second, "initial value", func() bool { return src.Buffered() == 1 })
	sim.Tick()
	testserver.WaitFor(t, 5*time.Second, "tick", func() bool { return src.Buffered() == 2 })

	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Poll(t.Context()); err == nil {
		t.Fatal("Poll succeeded with the server gone")
	}
	if st := src.Stats(); st.Connected {
		t.Errorf("Stats say connected with the server gone: %+v", st)
	}

	sim2 := startSim(t, u.Host, opcuasim.WithNamespaceOffset(2))
	if got := sim2.NodeID(opcuasim.BurnerStarts); got != "ns=3;s=Boiler.BurnerStarts" {
		t.Fatalf("restarted sim serves %s; the test needs a renumbered namespace", got)
	}
	back := byPoint(pollUntilOK(t, src, 5*time.Second))
	// The values received before the outage are not lost.
	if s := back["burner_starts"]; len(s) != 2 || s[0].Value != int64(0) || s[1].Value != int64(1) {
		t.Errorf("values from before the restart = %+v, want 0 and 1", s)
	}
	if m := back["mode"]; len(m) != 1 || m[0].Quality != protocols.Good || m[0].Value != "auto" {
		t.Errorf("mode after restart = %+v, want good 'auto' read through the renumbered namespace", m)
	}

	// The new server's initial value, then its changes.
	testserver.WaitFor(t, 5*time.Second, "initial value after restart", func() bool { return src.Buffered() == 1 })
	sim2.Tick()
	sim2.Tick()
	testserver.WaitFor(t, 5*time.Second, "ticks after restart", func() bool { return src.Buffered() >= 2 })
	s := byPoint(pollUntilOK(t, src, time.Second))["burner_starts"]
	if len(s) < 2 || s[0].Value != int64(0) || s[0].Quality != protocols.Good {
		t.Fatalf("burner_starts after restart = %+v, want the new server's 0 and its changes", s)
	}
	if st := src.Stats(); !st.Connected || st.Reconnects != 1 {
		t.Errorf("Stats = %+v, want connected after 1 reconnect", st)
	}
}

func TestUnknownNamespaceURIIsBadNotFatal(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	points := append(demoPoints(sim), opcua.Point{Name: "elsewhere", NodeID: "nsu=urn:not-here;s=X", Mode: opcua.ModeSubscribe})
	src := newSource(t, sim.Endpoint(), points)
	got := byPoint(pollUntilOK(t, src, 5*time.Second))
	if e := got["elsewhere"]; len(e) != 1 || e[0].Quality != protocols.Bad || !strings.Contains(e[0].Reason, "urn:not-here") {
		t.Fatalf("elsewhere = %+v, want Bad naming the namespace", e)
	}
	if s := got["temperature"]; len(s) != 1 || s[0].Quality != protocols.Good {
		t.Errorf("temperature = %+v, want good", s)
	}
}
