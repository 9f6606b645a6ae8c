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
	o = o.withDefaults()
	res := E2EResult{Opts: o}
	dev, err := startMarkerDevice()
	if err != nil {
		return res, err
	}
	defer dev.Close()
	changes := newChangeLog()
	p, err := startPipeline(ctx, pipelineConfig{
		Dir: o.Dir, MaxReadings: o.MaxReadings, SealInterval: o.SealInterval, OnAnchored: changes.anchored,
		Devices: []poll.Device{{ID: "press-line-1", Interval: o.PollInterval, Timeout: o.PollInterval + 2*time.Second, Source: dev.src}},
	})
	if err != nil {
		return res, err
	}
	res.Changes = dev.changeFor(ctx, o.Duration, o.PollInterval, changes)
	// Wait for the last values to be sealed and anchored.
	changes.waitAnchored(ctx, time.Now().Add(o.SealInterval+2*o.PollInterval+10*time.Second))
	if err := p.Close(); err != nil {
		return res, err
	}
	lat := changes.latencies()
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

// withDefaults fills the zero options with the appliance's defaults.
func (o E2EOptions) withDefaults() E2EOptions {
	o.Duration = orDefault(o.Duration, time.Minute)
	o.PollInterval = orDefault(o.PollInterval, time.Second)
	o.SealInterval, o.MaxReadings = sealDefaults(o.SealInterval, o.MaxReadings)
	return o
}

// sealDefaults are the appliance's seal.interval and seal.max_readings
// where the measurement leaves them unset.
func sealDefaults(interval time.Duration, maxReadings int) (time.Duration, int) {
	if maxReadings <= 0 {
		maxReadings = seal.DefaultMaxReadings
	}
	return orDefault(interval, 10*time.Second), maxReadings
}

// markerDevice is the simulated press line with the marker register, and
// the Modbus source polling it.
type markerDevice struct {
	sim  *modbussim.Sim
	unit *modbussim.Unit
	src  *modbus.Source
}

func startMarkerDevice() (*markerDevice, error) {
	sim, err := modbussim.Start("127.0.0.1:0", nil)
	if err != nil {
		return nil, err
	}
	layout := PressLineLayout()
	layout.Points = append(layout.Points, modbus.Point{Name: markerPoint, Register: "holding", Address: markerAddress, Type: "uint32"})
	layout.load(sim)
	src, err := modbus.New(modbus.Config{URL: "tcp://" + sim.Addr(), MaxGap: layout.MaxGap, Points: layout.Points},
		protocols.Options{DeviceID: "press-line-1", Timeout: 2 * time.Second})
	if err != nil {
		sim.Close()
		return nil, err
	}
	return &markerDevice{sim: sim, unit: sim.Unit(1), src: src}, nil
}

func (d *markerDevice) Close() {
	d.src.Close()
	d.sim.Close()
}

// changeFor sets the marker to 1, 2, 3... for the duration, 1.2 to 2.2
// poll intervals apart, noting each change; it returns how many were made.
func (d *markerDevice) changeFor(ctx context.Context, duration, pollInterval time.Duration, changes *changeLog) int {
	n := 0
	end := time.Now().Add(duration)
	for v := int64(1); time.Now().Before(end) && ctx.Err() == nil; v++ {
		d.unit.SetHolding(markerAddress, uint16(v>>16), uint16(v))
		changes.set(v, time.Now())
		n++
		gap := time.Duration(float64(pollInterval) * (1.2 + rand.Float64()))
		select {
		case <-ctx.Done():
		case <-time.After(gap):
		}
	}
	return n
}

// markerPoint names the marker value in the readings.
const markerPoint = "marker"

// changeLog pairs each marker value set with the first anchored block
// holding a reading of it.
type changeLog struct {
	mu      sync.Mutex
	changed map[int64]time.Time // value -> when it was set, until anchored
	lat     []time.Duration
}

func newChangeLog() *changeLog { return &changeLog{changed: map[int64]time.Time{}} }

func (c *changeLog) set(v int64, at time.Time) {
	c.mu.Lock()
	c.changed[v] = at
	c.mu.Unlock()
}

// anchored is the pipeline's OnAnchored: it takes the latency of every
// marker value the block holds that was not anchored before.
func (c *changeLog) anchored(st *store.Store, rec *store.BlockRecord) error {
	now := time.Now()
	raws, err := st.Readings(rec.FirstSeq, rec.LastSeq)
	if err != nil {
		return fmt.Errorf("read anchored block %d: %w", rec.Height, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, raw := range raws {
		r, err := reading.Decode(raw)
		if err != nil || r.Point != markerPoint || r.Int == nil {
			continue
		}
		if t, ok := c.changed[*r.Int]; ok {
			c.lat = append(c.lat, now.Sub(t))
			delete(c.changed, *r.Int)
		}
	}
	return nil
}

// waitAnchored returns when every change is anchored, at the deadline, or
// when ctx ends.
func (c *changeLog) waitAnchored(ctx context.Context, deadline time.Time) {
	for time.Now().Before(deadline) && ctx.Err() == nil {
		c.mu.Lock()
		left := len(c.changed)
		c.mu.Unlock()
		if left == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// latencies are the anchored changes' latencies, sorted.
func (c *changeLog) latencies() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	lat := slices.Clone(c.lat)
	slices.Sort(lat)
	return lat
}
