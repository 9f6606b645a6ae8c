package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/appliance/httpapi"
	"github.com/wotchain/wotchain/bridge/devstatus"
	"github.com/wotchain/wotchain/bridge/poll"
	"github.com/wotchain/wotchain/protocols"
)

// pool runs one poll loop per configured device and applies a new device
// list by stopping removed devices, starting added ones and restarting only
// those whose definition changed: a reload never interrupts the others.
type pool struct {
	sink    poll.Sink
	sources sourceBuilder
	log     *slog.Logger
	// observe is given to every loop (poll latency for the metrics);
	// forget is called for each device removed by a reload.
	observe func(device string, took time.Duration, err error)
	forget  func(device string)
	// status, if set, records the devices paused and resumed by the disk
	// budget and changed by a reload as status records.
	status *devstatus.Recorder

	mu      sync.Mutex
	running map[string]*running
}

type running struct {
	def    config.Device
	loop   *poll.Loop
	src    protocols.Source
	cancel context.CancelFunc
	done   chan struct{}
	paused bool // by the disk budget: the source stays open, the loop is stopped
}

// sourceBuilder opens a device's source (the daemon's *sources).
type sourceBuilder interface {
	build(d config.Device) (protocols.Source, error)
}

func newPool(sink poll.Sink, sources sourceBuilder, log *slog.Logger) *pool {
	return &pool{sink: sink, sources: sources, log: log, running: map[string]*running{}}
}

// apply brings the running devices to defs. It returns the ids started,
// stopped and restarted. A device that cannot be built is reported and
// left out; the others are applied.
func (p *pool) apply(ctx context.Context, defs []config.Device) (started, stopped, restarted []string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	want := map[string]config.Device{}
	for _, d := range defs {
		want[d.ID] = d
	}
	for id, r := range p.running {
		d, keep := want[id]
		switch {
		case !keep:
			p.stop(r)
			delete(p.running, id)
			stopped = append(stopped, id)
			if p.forget != nil {
				p.forget(id)
			}
		case !reflect.DeepEqual(d, r.def):
			p.stop(r)
			delete(p.running, id)
			restarted = append(restarted, id)
		}
	}
	var errs []error
	for _, d := range defs {
		if _, ok := p.running[d.ID]; ok {
			continue
		}
		if err := p.start(ctx, d); err != nil {
			errs = append(errs, err)
			continue
		}
		if !contains(restarted, d.ID) {
			started = append(started, d.ID)
		}
	}
	sort.Strings(started)
	sort.Strings(stopped)
	sort.Strings(restarted)
	if len(errs) > 0 {
		err = fmt.Errorf("devices: %v", errs)
	}
	return started, stopped, restarted, err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *pool) start(ctx context.Context, d config.Device) error {
	src, err := p.sources.build(d)
	if err != nil {
		return fmt.Errorf("device %s: %w", d.ID, err)
	}
	l := poll.NewLoop(poll.Device{ID: d.ID, Interval: d.Interval.D(), Timeout: d.Interval.D() + d.Timeout.D(), Source: src}, p.sink, p.log)
	l.Observe = p.observe
	r := &running{def: d, loop: l, src: src}
	p.run(ctx, r)
	p.running[d.ID] = r
	return nil
}

func (p *pool) run(ctx context.Context, r *running) {
	lctx, cancel := context.WithCancel(ctx)
	r.cancel, r.done, r.paused = cancel, make(chan struct{}), false
	go func() { defer close(r.done); r.loop.Run(lctx) }()
}

// pauseLowest stops polling the running devices of the lowest priority,
// unless they are the highest priority left (those keep running), and
// records them paused. It returns the ids paused.
func (p *pool) pauseLowest() []string {
	ids, priority := p.pause()
	p.record(ids, devstatus.Paused, fmt.Sprintf("disk budget reached: devices of priority %d stop polling", priority))
	return ids
}

// pause is pauseLowest's work on the running devices.
func (p *pool) pause() (ids []string, priority int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	lowest, highest, active := 0, 0, 0
	for _, r := range p.running {
		if r.paused {
			continue
		}
		if active == 0 || r.def.Priority < lowest {
			lowest = r.def.Priority
		}
		if active == 0 || r.def.Priority > highest {
			highest = r.def.Priority
		}
		active++
	}
	if active == 0 || lowest == highest {
		return nil, 0
	}
	for id, r := range p.running {
		if !r.paused && r.def.Priority == lowest {
			r.cancel()
			<-r.done
			r.paused = true
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, lowest
}

// resumeAll restarts the paused devices, records them resumed and returns
// their ids.
func (p *pool) resumeAll(ctx context.Context) []string {
	ids := p.resume(ctx)
	p.record(ids, devstatus.Resumed, "disk budget: the store is below 90% of the cap again")
	return ids
}

// record stores a status record of each device, if the pool records them.
func (p *pool) record(ids []string, s devstatus.State, reason string) {
	if p.status != nil {
		p.status.RecordAll(ids, s, reason)
	}
}

func (p *pool) resume(ctx context.Context) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for id, r := range p.running {
		if r.paused {
			p.run(ctx, r)
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// stop ends a device's loop, takes one last poll so values a subscription
// buffered since the previous poll are stored, and closes the source.
func (p *pool) stop(r *running) {
	if !r.paused {
		r.cancel()
		<-r.done
	}
	final, cancel := context.WithTimeout(context.Background(), r.def.Timeout.D()+time.Second)
	r.loop.Once(final)
	cancel()
	if err := r.src.Close(); err != nil {
		p.log.Warn("closing device", "device", r.def.ID, "err", err)
	}
}

// ids returns the ids of the devices in the pool (paused ones too), sorted.
func (p *pool) ids() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.running))
	for id := range p.running {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// stopAll stops every device.
func (p *pool) stopAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, r := range p.running {
		p.stop(r)
		delete(p.running, id)
	}
}

// loops returns the running loops, for status.
func (p *pool) loops() []*poll.Loop {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*poll.Loop, 0, len(p.running))
	for _, r := range p.running {
		out = append(out, r.loop)
	}
	return out
}

// statuses describes the running devices for the HTTP API.
func (p *pool) statuses(last func(id string) []poll.PointValue) []httpapi.DeviceStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]httpapi.DeviceStatus, 0, len(p.running))
	for id, r := range p.running {
		ds := httpapi.DeviceStatus{ID: id, Protocol: string(r.def.Protocol), Interval: r.def.Interval.D(), Health: r.loop.Health(), Last: last(id)}
		if sr, ok := r.src.(protocols.StatsReporter); ok {
			st := sr.Stats()
			ds.Stats = &st
		}
		out = append(out, ds)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
