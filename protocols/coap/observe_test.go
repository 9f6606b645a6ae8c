package coap

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/internal/testserver"
	"github.com/wotchain/wotchain/protocols"
	"github.com/wotchain/wotchain/protocols/coap/coapsim"
)

// collect polls until want(samples so far) holds or the deadline passes,
// and returns every sample gathered.
func collect(t *testing.T, src *Source, within time.Duration, want func([]protocols.Sample) bool) []protocols.Sample {
	t.Helper()
	var all []protocols.Sample
	deadline := time.Now().Add(within)
	for {
		all = append(all, pollList(t, src)...)
		if want(all) {
			return all
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v; samples: %s", within, describeSamples(all))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func valuesOf(samples []protocols.Sample, point string) []any {
	var out []any
	for _, s := range samples {
		if s.Point == point {
			out = append(out, s.Value)
		}
	}
	return out
}

func countOf(point string, n int) func([]protocols.Sample) bool {
	return func(all []protocols.Sample) bool { return len(valuesOf(all, point)) >= n }
}

func describeSamples(samples []protocols.Sample) string {
	var b strings.Builder
	for _, s := range samples {
		fmt.Fprintf(&b, "\n  %s=%v %v %q", s.Point, s.Value, s.Quality, s.Reason)
	}
	return b.String()
}

func TestObserveDeliversEveryChangeBetweenPolls(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	src := newSource(t, sim.URL(),
		Point{Name: "door", Path: coapsim.PathDoor, Observe: ptr(true)},
		Point{Name: "co2", Path: coapsim.PathEnv, Format: FormatJSON, Field: "co2", Observe: ptr(true)},
		Point{Name: "temperature", Path: coapsim.PathEnv, Format: FormatJSON, Field: "temperature", Observe: ptr(true)},
		Point{Name: "humidity", Path: coapsim.PathHumidity}, // polled, for contrast
	)
	first := pollList(t, src)
	if got := valuesOf(first, "door"); !slices.Equal(got, []any{false}) {
		t.Fatalf("first poll door = %v, want the registration's value [false]", got)
	}

	before := time.Now()
	for range 5 { // five changes between two polls
		sim.Tick()
	}
	// Door and env are separate observations: their notifications of the
	// fifth change can arrive in either order, so wait for both.
	got := collect(t, src, 3*time.Second, func(all []protocols.Sample) bool {
		return countOf("door", 5)(all) && countOf("co2", 5)(all) && countOf("temperature", 5)(all)
	})

	// Every state, in order, none twice: steps 1..5.
	if door := valuesOf(got, "door"); !slices.Equal(door, []any{true, false, true, false, true}) {
		t.Errorf("door = %v, want every change in order", door)
	}
	if co2 := valuesOf(got, "co2"); !slices.Equal(co2, []any{int64(420), int64(425), int64(420), int64(415), int64(410)}) {
		t.Errorf("co2 = %v, want every change in order", co2)
	}
	var last time.Time
	for _, s := range got {
		switch s.Point {
		case "humidity":
			if !s.Received.IsZero() {
				t.Errorf("polled humidity has Received %v", s.Received)
			}
		default:
			if s.Quality != protocols.Good || s.Received.Before(before) || (s.Point == "door" && s.Received.Before(last)) {
				t.Errorf("%s: %+v, want Good with Received after the changes, in order", s.Point, s)
			}
			if s.Point == "door" {
				last = s.Received
			}
		}
	}
	// Nothing was fetched: one registration per observed path.
	if n := sim.Requests(coapsim.PathDoor); n != 1 {
		t.Errorf("%s: %d requests, want 1 registration", coapsim.PathDoor, n)
	}
	if n := sim.Requests(coapsim.PathEnv); n != 1 {
		t.Errorf("%s: %d requests, want 1 registration for both points", coapsim.PathEnv, n)
	}
	if st := src.Stats(); st.RequestsLastPoll != 1 || !st.Connected {
		t.Errorf("stats %+v, want 1 request (the humidity GET) and connected", st)
	}
}

func TestObserveReRegistersWhenNotificationsStop(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	src := newSourceCfg(t, Config{URL: sim.URL(), Observe: true, ObserveTimeout: Duration(300 * time.Millisecond),
		Points: []Point{{Name: "door", Path: coapsim.PathDoor}}})
	pollList(t, src)

	sim.ForgetObservers() // the device loses its observer list
	sim.Tick()            // door is now true, but nobody is told
	if got := pollList(t, src); len(got) != 0 {
		t.Fatalf("poll within observe_timeout = %s, want nothing (no notification yet)", describeSamples(got))
	}
	if n := sim.Requests(coapsim.PathDoor); n != 1 {
		t.Fatalf("%d requests before observe_timeout, want 1", n)
	}

	time.Sleep(350 * time.Millisecond)
	got := pollList(t, src)
	if door := valuesOf(got, "door"); !slices.Equal(door, []any{true}) || got[0].Received.IsZero() {
		t.Fatalf("after observe_timeout: %s, want the current value from a new registration", describeSamples(got))
	}
	if n := sim.Observers(coapsim.PathDoor); n != 1 {
		t.Fatalf("device has %d observers, want 1 (registered again)", n)
	}
	if st := src.Stats(); st.RequestsLastPoll != 2 {
		t.Errorf("RequestsLastPoll = %d, want 2 (deregistration of the silent observation, new registration)", st.RequestsLastPoll)
	}

	// The new observation works: the next change arrives without polling.
	sim.Tick()
	got = collect(t, src, 2*time.Second, countOf("door", 1))
	if door := valuesOf(got, "door"); !slices.Equal(door, []any{false}) {
		t.Fatalf("after re-registration door = %v, want [false]", door)
	}
}

func TestObserveReRegistersAfterDeviceRestart(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	addr := sim.Addr()
	src := newSourceCfg(t, Config{URL: sim.URL(), Observe: true, ObserveTimeout: Duration(200 * time.Millisecond),
		Points: []Point{{Name: "door", Path: coapsim.PathDoor}, {Name: "humidity", Path: coapsim.PathHumidity}}})
	pollList(t, src)

	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	restarted := startSim(t, addr) // same port, empty observer list
	for range 3 {
		restarted.Tick() // step 3: door true, humidity 45.4
	}
	got := collect(t, src, 5*time.Second, func(all []protocols.Sample) bool {
		return slices.Contains(valuesOf(all, "door"), any(true)) && slices.Contains(valuesOf(all, "humidity"), any(45.4))
	})
	for _, s := range got {
		if s.Quality == protocols.Good && s.Received.IsZero() {
			t.Errorf("%s: Good sample without Received", s.Point)
		}
	}
	if restarted.Observers(coapsim.PathDoor) != 1 || restarted.Observers(coapsim.PathHumidity) != 1 {
		t.Fatal("the restarted device does not have the observations again")
	}
	restarted.Tick()
	got = collect(t, src, 2*time.Second, countOf("door", 1))
	if door := valuesOf(got, "door"); door[len(door)-1] != false {
		t.Fatalf("notifications after restart: door = %v, want false last", door)
	}
}

func TestObserveBufferOverflowIsVisible(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	src := newSourceCfg(t, Config{URL: sim.URL(), Observe: true, ObserveBuffer: 3,
		Points: []Point{{Name: "door", Path: coapsim.PathDoor}}})
	pollList(t, src)

	for range 10 {
		sim.Tick()
	}
	buf := src.resources[0].obs.buf
	testserver.WaitFor(t, 3*time.Second, "7 lost notifications", func() bool {
		buf.mu.Lock()
		defer buf.mu.Unlock()
		return buf.lost.count == 7
	})
	got := pollList(t, src)
	if len(got) != 4 {
		t.Fatalf("got %s, want one loss marker and the 3 newest notifications", describeSamples(got))
	}
	if s := got[0]; s.Quality != protocols.Bad || s.Value != nil || !strings.Contains(s.Reason, "7 notification(s) lost") {
		t.Fatalf("first sample %+v, want the Bad loss marker", s)
	}
	if door := valuesOf(got[1:], "door"); !slices.Equal(door, []any{false, true, false}) { // steps 8, 9, 10
		t.Fatalf("kept %v, want the newest three states", door)
	}
}

func TestObserveFallsBackWhenResourceRefuses(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	sim.DisableObserve(coapsim.PathHumidity)
	src := newSourceCfg(t, Config{URL: sim.URL(), Observe: true, Points: []Point{
		{Name: "humidity", Path: coapsim.PathHumidity},
		{Name: "ghost", Path: "/sensors/ghost"},
	}})
	for step, want := range []float64{45.0, 45.4, 45.8} {
		if step > 0 {
			sim.Tick()
		}
		got := poll(t, src)
		if s := got["humidity"]; s.Value != want || s.Received.IsZero() {
			t.Fatalf("step %d humidity %+v, want %v read by registering again", step, s, want)
		}
		if s := got["ghost"]; s.Quality != protocols.Bad || !strings.Contains(s.Reason, "observe /sensors/ghost: device answered 4.04") {
			t.Fatalf("step %d ghost %+v, want Bad 4.04", step, s)
		}
	}
	if n := sim.Requests(coapsim.PathHumidity); n != 3 {
		t.Errorf("%d requests, want one registration per poll", n)
	}
}

func TestObserveLimit(t *testing.T) {
	s := &Source{timeout: 500 * time.Millisecond}
	if got := s.observeLimit(time.Second); got != 1500*time.Millisecond {
		t.Errorf("Max-Age aware limit = %v, want Max-Age + timeout", got)
	}
	s.obsTimeout = 10 * time.Second
	if got := s.observeLimit(time.Second); got != 10*time.Second {
		t.Errorf("configured limit = %v, want observe_timeout", got)
	}
}

func TestObserveRegistrationTimeoutIsBadNotFatal(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	sim.Silence(coapsim.PathDoor) // the device never answers this resource
	src := newSource(t, sim.URL(),
		Point{Name: "door", Path: coapsim.PathDoor, Observe: ptr(true)},
		Point{Name: "humidity", Path: coapsim.PathHumidity})
	got := poll(t, src)
	if s := got["door"]; s.Quality != protocols.Bad || !strings.Contains(s.Reason, "observe /sensors/door") ||
		!strings.Contains(s.Reason, "deadline exceeded") {
		t.Errorf("door %+v, want Bad naming the registration timeout", s)
	}
	if s := got["humidity"]; s.Quality != protocols.Good {
		t.Errorf("humidity %+v, want Good: one silent resource must not hide the others", s)
	}
	if st := src.Stats(); !st.Connected || st.RequestsLastPoll != 2 {
		t.Errorf("stats %+v, want connected after 2 requests", st)
	}
}

func TestPollFailsWhenDeviceGoneWithObservations(t *testing.T) {
	sim := startSim(t, "127.0.0.1:0")
	src := newSource(t, sim.URL(),
		Point{Name: "door", Path: coapsim.PathDoor, Observe: ptr(true)},
		Point{Name: "humidity", Path: coapsim.PathHumidity})
	pollList(t, src)
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The observation is still within its timeout; the GET fails.
	_, err := src.Poll(ctx)
	if err == nil || !strings.Contains(err.Error(), "test-device") {
		t.Fatalf("Poll with the device gone: %v, want an error naming the device", err)
	}
	if st := src.Stats(); st.Connected {
		t.Errorf("stats %+v, want disconnected", st)
	}
}
