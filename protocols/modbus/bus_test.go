package modbus_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wotchain/wotchain/internal/testserver"
	"github.com/wotchain/wotchain/protocols"
	"github.com/wotchain/wotchain/protocols/modbus"
)

// unitPoints reads one holding register and one coil; each unit of the
// tests below holds its own id there, so a value from the wrong unit shows.
func unitPoints() []modbus.Point {
	return []modbus.Point{
		{Name: "id", Register: "holding", Address: 0, Type: "uint16"},
		{Name: "id_x100", Register: "holding", Address: 1, Type: "uint32"},
		{Name: "flag", Register: "coil", Address: 0},
	}
}

func loadUnits(tb *testbed, units ...int) {
	for _, id := range units {
		u := tb.sim.Unit(uint8(id))
		u.SetHolding(0, uint16(id), 0, uint16(id*100))
		u.SetCoils(0, id%2 == 1)
	}
}

func checkUnit(t *testing.T, got map[string]protocols.Sample, id int) {
	t.Helper()
	checkGood(t, got, "id", int64(id))
	checkGood(t, got, "id_x100", int64(id*100))
	checkGood(t, got, "flag", id%2 == 1)
}

// TestBusSharesOnePort checks that units on one port share one connection
// through a Bus, that the port lives while any Source uses it, and that
// Sources without a Bus do not share.
func TestBusSharesOnePort(t *testing.T) {
	for _, transport := range []string{"tcp-gateway", "rtutcp"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			tb := startTestbed(t, transport)
			loadUnits(tb, 1, 2, 3)
			bus := modbus.NewBus()
			var srcs []*modbus.Source
			for id := 1; id <= 3; id++ {
				srcs = append(srcs, tb.source(t, id, time.Second, unitPoints(), modbus.WithBus(bus)))
			}
			for round := 0; round < 2; round++ {
				for i, src := range srcs {
					checkUnit(t, poll(t, src), i+1)
				}
			}
			if accepted, open := tb.gw.Conns(); accepted != 1 || open != 1 {
				t.Fatalf("gateway saw %d connections (%d open), want 1 shared connection", accepted, open)
			}
			_ = srcs[0].Close()
			_ = srcs[1].Close()
			checkUnit(t, poll(t, srcs[2]), 3)
			if _, open := tb.gw.Conns(); open != 1 {
				t.Fatalf("%d connections open with one Source left, want 1", open)
			}
			_ = srcs[2].Close()
			testserver.WaitFor(t, time.Second, "the gateway's connections to close", func() bool { _, open := tb.gw.Conns(); return open == 0 })

			// Without a Bus every Source has its own connection.
			a := tb.source(t, 1, time.Second, unitPoints())
			b := tb.source(t, 2, time.Second, unitPoints())
			checkUnit(t, poll(t, a), 1)
			checkUnit(t, poll(t, b), 2)
			if accepted, _ := tb.gw.Conns(); accepted != 3 {
				t.Fatalf("gateway saw %d connections in all, want 3", accepted)
			}
		})
	}
}

func TestBusRefusesConflictingSerialSettings(t *testing.T) {
	bus := modbus.NewBus()
	points := unitPoints()
	newSourceCfg(t, modbus.Config{URL: "rtu:///dev/ttyUSB7?baud=9600", UnitID: 1, Points: points}, time.Second, modbus.WithBus(bus))
	newSourceCfg(t, modbus.Config{URL: "rtu:///dev/ttyUSB7?baud=9600", UnitID: 2, Points: points}, time.Second, modbus.WithBus(bus))
	_, err := modbus.New(modbus.Config{URL: "rtu:///dev/ttyUSB7?baud=19200", UnitID: 3, Points: points},
		protocols.Options{DeviceID: "meter3"}, modbus.WithBus(bus))
	if err == nil || !strings.Contains(err.Error(), "9600 8E1") || !strings.Contains(err.Error(), "meter3") {
		t.Fatalf("New with other line settings: %v, want an error naming the device and the settings in use", err)
	}
}

// pollStats is what one Source's poll loop saw.
type pollStats struct {
	ok, failed int
	slowest    time.Duration
	firstErr   error
}

// pollLoop polls src every interval until stop, checking values with check.
func pollLoop(src *modbus.Source, interval time.Duration, stop time.Time, check func(map[string]protocols.Sample) bool) pollStats {
	var st pollStats
	for next := time.Now(); time.Now().Before(stop); next = next.Add(interval) {
		time.Sleep(time.Until(next))
		start := time.Now()
		samples, err := pollCtx(src, 5*time.Second)
		st.slowest = max(st.slowest, time.Since(start))
		if err != nil {
			st.failed++
			if st.firstErr == nil {
				st.firstErr = err
			}
			continue
		}
		got := make(map[string]protocols.Sample)
		for _, s := range samples {
			got[s.Point] = s
		}
		if check(got) {
			st.ok++
		} else {
			st.failed++
		}
	}
	return st
}

// TestDeadUnitDoesNotBlockOthers polls three units on one port while one of
// them never answers. The dead unit's request times out, the others proceed
// on the next turn of the port's lock, and backing off keeps the dead unit
// from taking the bus on every poll: the live units keep their values and
// nearly their poll rate.
func TestDeadUnitDoesNotBlockOthers(t *testing.T) {
	const (
		timeout  = 150 * time.Millisecond
		interval = 40 * time.Millisecond
		run      = 1200 * time.Millisecond
	)
	for _, transport := range []string{"tcp-gateway", "rtutcp", "rtu-pty"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			tb := startTestbed(t, transport)
			loadUnits(tb, 1, 2, 3)
			tb.gw.Silence(3, true)
			bus := modbus.NewBus()
			srcs := make([]*modbus.Source, 3)
			for i := range srcs {
				srcs[i] = tb.source(t, i+1, timeout, unitPoints(), modbus.WithBus(bus))
			}
			stop := time.Now().Add(run)
			stats := make([]pollStats, 3)
			var wg sync.WaitGroup
			for i, src := range srcs {
				wg.Go(func() {
					stats[i] = pollLoop(src, interval, stop, func(got map[string]protocols.Sample) bool {
						return got["id"].Value == int64(i+1) && got["id_x100"].Value == int64(100*(i+1)) &&
							got["flag"].Value == ((i+1)%2 == 1)
					})
				})
			}
			wg.Wait()

			ideal := int(run / interval)
			for i := range 2 {
				st := stats[i]
				if st.failed > 0 {
					t.Errorf("unit %d: %d polls failed (first: %v)", i+1, st.failed, st.firstErr)
				}
				if st.ok < ideal/2 {
					t.Errorf("unit %d: %d good polls, want at least %d of the ideal %d", i+1, st.ok, ideal/2, ideal)
				}
				// At worst a poll waits for one timed-out request per request it makes.
				if limit := 2*timeout + 100*time.Millisecond; st.slowest > limit {
					t.Errorf("unit %d: slowest poll %v, want at most %v", i+1, st.slowest, limit)
				}
			}
			dead := stats[2]
			if dead.ok > 0 || dead.failed == 0 || dead.firstErr == nil || !strings.Contains(dead.firstErr.Error(), "timeout") {
				t.Errorf("dead unit: %+v, want only failed polls, the first a timeout", dead)
			}
			if st := srcs[2].Stats(); st.RequestsTotal > 3 || st.Connected {
				t.Errorf("dead unit stats %+v: it should back off (at most 3 requests in %v) and not be connected", st, run)
			}
			for i := range 2 {
				if st := srcs[i].Stats(); !st.Connected || st.RequestsLastPoll != 2 {
					t.Errorf("unit %d stats %+v, want connected with 2 requests per poll", i+1, st)
				}
			}
			t.Logf("live units %d and %d good polls of %d, slowest %v / %v; dead unit %d requests",
				stats[0].ok, stats[1].ok, ideal, stats[0].slowest, stats[1].slowest, srcs[2].Stats().RequestsTotal)
		})
	}
}
