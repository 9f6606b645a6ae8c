package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/wotchain/wotchain/bridge/poll"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/seal"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/protocols"
	"github.com/wotchain/wotchain/protocols/modbus"
	"github.com/wotchain/wotchain/protocols/modbus/modbussim"
)

// E2EOptions set up the end-to-end measurement. Zero values take the
// appliance's defaults (configs/example-plant.yaml).
type E2EOptions struct {
	Dir          string
	Duration     time.Duration // how long values are changed (default 1 minute)
	PollInterval time.Duration // device interval (default 1s)
	SealInterval time.Duration // seal.interval (default 10s)
	MaxReadings  int           // seal.max_readings (default seal.DefaultMaxReadings)
}

// E2EResult is the time from a device value changing to the block holding
// its first reading being anchored.
type E2EResult struct {
	Opts     E2EOptions
	Changes  int // values set on the simulated device
	Anchored int // of which anchored (measured)
	P50, P99 time.Duration
	Max      time.Duration
}

// markerAddress is the holding register pair of the value the measurement
// changes, away from the press-line layout.
const markerAddress = 300

// EndToEnd runs the bridge against a simulated Modbus press line: a
// uint32 marker value is set to a new number at random moments (1.2 to 2.2
// poll intervals apart, so that every value is polled at least once), and
// each value's latency is taken when the first block holding a reading of
// it is anchored on the ledger.
func EndToEnd(ctx context.Context, o E2EOptions) (E2EResult, error) {
	if o.Duration <= 0 {
		o.Duration = time.Minute
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.SealInterval <= 0 {
		o.SealInterval = 10 * time.Second
	}
	if o.MaxReadings <= 0 {
		o.MaxReadings = seal.DefaultMaxReadings
	}
	res := E2EResult{Opts: o}
	sim, err := modbussim.Start("127.0.0.1:0", nil)
	if err != nil {
		return res, err
	}
	defer sim.Close()
	layout := PressLineLayout()
	marker := modbus.Point{Name: "marker", Register: "holding", Address: markerAddress, Type: "uint32"}
	layout.Points = append(layout.Points, marker)
	layout.load(sim)
	unit := sim.Unit(1)
	src, err := modbus.New(modbus.Config{URL: "tcp://" + sim.Addr(), MaxGap: layout.MaxGap, Points: layout.Points},
		protocols.Options{DeviceID: "press-line-1", Timeout: 2 * time.Second})
	if err != nil {
		return res, err
	}
	defer src.Close()

	var mu sync.Mutex
	changed := map[int64]time.Time{} // value -> when it was set, until anchored
	var lat []time.Duration
	onAnchored := func(st *store.Store, rec *store.BlockRecord) error {
		now := time.Now()
		raws, err := st.Readings(rec.FirstSeq, rec.LastSeq)
		if err != nil {
			return fmt.Errorf("read anchored block %d: %w", rec.Height, err)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, raw := range raws {
			r, err := reading.Decode(raw)
			if err != nil || r.Point != marker.Name || r.Int == nil {
				continue
			}
			if t, ok := changed[*r.Int]; ok {
				lat = append(lat, now.Sub(t))
				delete(changed, *r.Int)
			}
		}
		return nil
	}
	p, err := startPipeline(ctx, pipelineConfig{
		Dir: o.Dir, MaxReadings: o.MaxReadings, SealInterval: o.SealInterval, OnAnchored: onAnchored,
		Devices: []poll.Device{{ID: "press-line-1", Interval: o.PollInterval, Timeout: o.PollInterval + 2*time.Second, Source: src}},
	})
	if err != nil {
		return res, err
	}

	end := time.Now().Add(o.Duration)
	for v := int64(1); time.Now().Before(end) && ctx.Err() == nil; v++ {
		unit.SetHolding(markerAddress, uint16(v>>16), uint16(v))
		mu.Lock()
		changed[v] = time.Now()
		mu.Unlock()
		res.Changes++
		gap := time.Duration(float64(o.PollInterval) * (1.2 + rand.Float64()))
		select {
		case <-ctx.Done():
		case <-time.After(gap):
		}
	}
	// Wait for the last values to be sealed and anchored.
	wait := time.Now().Add(o.SealInterval + 2*o.PollInterval + 10*time.Second)
	for time.Now().Before(wait) && ctx.Err() == nil {
		mu.Lock()
		left := len(changed)
		mu.Unlock()
		if left == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := p.Close(); err != nil {
		return res, err
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	res.Anchored = len(lat)
	res.P50, res.P99 = percentile(lat, 0.50), percentile(lat, 0.99)
	if len(lat) > 0 {
		res.Max = lat[len(lat)-1]
	}
	if res.Anchored == 0 {
		return res, fmt.Errorf("none of %d value changes was anchored", res.Changes)
	}
	return res, ctx.Err()
}
