package modbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/goburrow/modbus"

	"github.com/wotchain/wotchain/protocols"
)

// DefaultTimeout bounds each request (and the connect) when
// protocols.Options.Timeout is zero.
const DefaultTimeout = 2 * time.Second

// Backoff for a unit that stops answering on a shared port: it is tried
// again after firstBackoff, doubling up to maxBackoff, so that a dead unit
// does not take bus time from the live ones on every poll.
const (
	firstBackoff = time.Second
	maxBackoff   = 30 * time.Second
)

// Source polls one Modbus unit. It is safe for concurrent use; its polls are
// serialised.
type Source struct {
	device  string
	unitID  byte
	timeout time.Duration
	pause   time.Duration
	limits  limits
	log     *slog.Logger
	points  []point
	bus     *Bus
	port    *port

	mu      sync.Mutex // serialises polls; guards the fields below
	plan    []readRequest
	closed  bool
	backoff time.Duration // current backoff; 0 while the unit answers
	retryAt time.Time     // no request before this while backing off

	statsMu sync.Mutex
	stats   protocols.Stats
	gen     uint64 // connection generation of the last request
}

var (
	_ protocols.Source        = (*Source)(nil)
	_ protocols.StatsReporter = (*Source)(nil)
)

// Option configures a Source beyond its Config.
type Option func(*sourceOptions)

type sourceOptions struct{ bus *Bus }

// WithBus makes the Source share ports with every other Source of b.
func WithBus(b *Bus) Option { return func(o *sourceOptions) { o.bus = b } }

// New validates cfg and returns a Source. It does not connect: a device that
// is down at start-up is reported by Poll, not here.
func New(cfg Config, opts protocols.Options, options ...Option) (*Source, error) {
	cfg.Points = slices.Clone(cfg.Points) // Defaults must not touch the caller's slice
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("modbus device %q: invalid config: %w", opts.DeviceID, err)
	}
	ep, err := parseEndpoint(cfg.URL)
	if err != nil { // unreachable after Validate; kept so New never trusts it blindly
		return nil, fmt.Errorf("modbus device %q: %w", opts.DeviceID, err)
	}
	points := make([]point, len(cfg.Points))
	for i, p := range cfg.Points {
		if points[i], err = compilePoint(p); err != nil {
			return nil, fmt.Errorf("modbus device %q: %w", opts.DeviceID, err)
		}
	}
	var so sourceOptions
	for _, o := range options {
		o(&so)
	}
	if so.bus == nil {
		so.bus = NewBus()
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	logger := protocols.Logger(opts.Logger)
	logger = logger.With("protocol", "modbus")
	// The port logs without device attributes: other devices may share it.
	p, err := so.bus.acquire(ep, logger)
	if err != nil {
		return nil, fmt.Errorf("modbus device %q: %w", opts.DeviceID, &protocols.FieldError{Field: "url", Err: err})
	}
	lim := limits{maxGap: cfg.MaxGap, maxRegisters: cfg.MaxRegisters, maxBits: cfg.MaxBits}
	return &Source{
		device:  opts.DeviceID,
		unitID:  byte(cfg.UnitID),
		timeout: timeout,
		pause:   cfg.Pause.D(),
		limits:  lim,
		log:     logger.With("device", opts.DeviceID, "url", ep.key(), "unit", cfg.UnitID),
		points:  points,
		bus:     so.bus,
		port:    p,
		plan:    planReads(points, nil, lim),
	}, nil
}

// Poll reads every point once. A Modbus exception makes the affected points
// Bad; a connection, timeout or framing error aborts the poll with an error
// and resets the connection so the next request starts clean.
//
// A merged request that the device refuses with "illegal data address" or
// "illegal data value" (it spans an unmapped register, or is longer than
// the device accepts) is split, and the split is kept for later polls.
func (s *Source) Poll(ctx context.Context) ([]protocols.Sample, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("modbus device %q: poll after close", s.device)
	}
	if wait := time.Until(s.retryAt); wait > 0 {
		s.record(outcome{}, errors.New("backing off"), true)
		return nil, fmt.Errorf("%s: unit did not answer; next attempt in %v", s.where(), wait.Round(time.Millisecond))
	}

	samples := make([]protocols.Sample, len(s.points))
	first := true
	for i := 0; i < len(s.plan); i++ {
		req := s.plan[i]
		raw, out, err := s.port.read(ctx, call{unit: s.unitID, req: req, timeout: s.timeout, pause: s.pause})
		s.record(out, err, first)
		first = false
		var mbErr *modbus.ModbusError
		exception := isException(err, req.kind) && errors.As(err, &mbErr)
		switch {
		case err == nil:
			req.fill(samples, s.points, raw)
		case exception && refusedRange(mbErr) && len(req.points) > 1:
			parts := req.split(s.points, s.limits)
			s.log.Info("device refused a merged read; reading its points in smaller requests",
				"request", req.String(), "requests", len(parts), "err", err)
			s.plan = slices.Replace(s.plan, i, i+1, parts...)
			i-- // read the parts next
		case exception && !gatewayUnreachable(mbErr):
			s.log.Debug("modbus exception", "request", req.String(), "err", err)
			for _, k := range req.points {
				samples[k] = newSample(s.points[k], nil, fmt.Errorf("read %s: %w", req, err))
			}
		default:
			// Only the device's own silence backs off, not the end of the
			// caller's context (which also reports a timeout).
			if isTimeout(err) && ctx.Err() == nil && s.port.shared() {
				s.backoff = min(max(2*s.backoff, firstBackoff), maxBackoff)
				s.retryAt = time.Now().Add(s.backoff)
			}
			return nil, fmt.Errorf("%s: read %s: %w", s.where(), req, err)
		}
	}
	s.backoff, s.retryAt = 0, time.Time{}
	return samples, nil
}

// where names the device, unit and port for errors.
func (s *Source) where() string {
	return fmt.Sprintf("modbus device %q unit %d at %s", s.device, s.unitID, s.port.ep.key())
}

// Close releases the port; the last Source on a port closes it. Poll fails
// after Close.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.statsMu.Lock()
	s.stats.Connected = false
	s.statsMu.Unlock()
	return s.bus.release(s.port)
}

// Stats reports the connection state and request counts. Connected means
// the unit answered its last request; Reconnects counts connections the
// Source's requests found re-established since the previous one (on a
// shared port that includes reconnects caused by other units).
func (s *Source) Stats() protocols.Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	return s.stats
}

// record updates the stats after one call; first starts a new poll.
func (s *Source) record(out outcome, err error, first bool) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	if first {
		s.stats.RequestsLastPoll = 0
	}
	s.stats.RequestsLastPoll += out.sent
	s.stats.RequestsTotal += uint64(out.sent)
	var mbErr *modbus.ModbusError
	s.stats.Connected = err == nil || (errors.As(err, &mbErr) && !gatewayUnreachable(mbErr))
	if out.gen != 0 {
		if s.gen != 0 && out.gen != s.gen {
			s.stats.Reconnects++
		}
		s.gen = out.gen
	}
}

// fill sets the samples of r's points from raw, r's response data.
func (r readRequest) fill(samples []protocols.Sample, points []point, raw []byte) {
	for _, k := range r.points {
		v, err := r.valueOf(points[k], raw)
		samples[k] = newSample(points[k], v, err)
	}
}

// refusedRange reports the exceptions a device gives for a request that
// spans addresses it does not map or is longer than it accepts.
func refusedRange(e *modbus.ModbusError) bool {
	return e.ExceptionCode == modbus.ExceptionCodeIllegalDataAddress ||
		e.ExceptionCode == modbus.ExceptionCodeIllegalDataValue
}

// gatewayUnreachable reports exceptions meaning a gateway could not reach
// the device behind it: the device as a whole is unreachable, which the
// Source contract reports as a Poll error rather than per-point Bad samples.
func gatewayUnreachable(e *modbus.ModbusError) bool {
	return e != nil && (e.ExceptionCode == modbus.ExceptionCodeGatewayPathUnavailable ||
		e.ExceptionCode == modbus.ExceptionCodeGatewayTargetDeviceFailedToRespond)
}

// newSample builds the Sample for one point; err makes it Bad with the
// error as reason. Modbus carries no timestamps, so SourceTime stays zero.
func newSample(p point, v any, err error) protocols.Sample {
	if err != nil {
		return protocols.Sample{Point: p.name, Unit: p.unit, Quality: protocols.Bad, Reason: err.Error()}
	}
	return protocols.Sample{Point: p.name, Value: v, Unit: p.unit, Quality: protocols.Good}
}
