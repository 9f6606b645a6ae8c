package modbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/goburrow/modbus"

	"github.com/wotchain/wotchain/protocols"
)

// DefaultTimeout bounds each request (and the connect) when
// protocols.Options.Timeout is zero.
const DefaultTimeout = 2 * time.Second

// Source polls one Modbus TCP device. It is safe for concurrent use; polls
// are serialised because a Modbus TCP connection carries one transaction at
// a time.
type Source struct {
	device  string
	addr    string // host:port
	unitID  byte
	timeout time.Duration
	log     *slog.Logger
	points  []point
	plan    []readRequest

	mu      sync.Mutex // guards everything below and the connection's use
	handler *modbus.TCPClientHandler
	client  modbus.Client
	closed  bool
}

var _ protocols.Source = (*Source)(nil)

// New validates cfg and returns a Source. It does not connect: a device that
// is down at start-up is reported by Poll, not here.
func New(cfg Config, opts protocols.Options) (*Source, error) {
	cfg.Points = slices.Clone(cfg.Points) // Defaults must not touch the caller's slice
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("modbus device %q: invalid config: %w", opts.DeviceID, err)
	}
	addr, err := tcpAddress(cfg.URL)
	if err != nil { // unreachable after Validate; kept so New never trusts it blindly
		return nil, fmt.Errorf("modbus device %q: %w", opts.DeviceID, err)
	}
	points := make([]point, len(cfg.Points))
	for i, p := range cfg.Points {
		if points[i], err = compilePoint(p); err != nil {
			return nil, fmt.Errorf("modbus device %q: %w", opts.DeviceID, err)
		}
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Source{
		device:  opts.DeviceID,
		addr:    addr,
		unitID:  byte(cfg.UnitID),
		timeout: timeout,
		log:     logger.With("protocol", "modbus", "device", opts.DeviceID, "addr", addr),
		points:  points,
		plan:    planReads(points),
	}, nil
}

// Poll reads every point once. A Modbus exception makes the affected points
// Bad; a connection, timeout or framing error aborts the poll with an error
// and drops the connection so the next poll starts clean.
//
// goburrow's client cannot be interrupted mid-request, so ctx cancellation
// is observed between requests, and a ctx deadline shortens each request's
// timeout.
func (s *Source) Poll(ctx context.Context) ([]protocols.Sample, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("modbus device %q: poll after close", s.device)
	}

	samples := make([]protocols.Sample, len(s.points))
	for _, req := range s.plan {
		raw, err := s.read(ctx, req)
		var mbErr *modbus.ModbusError
		switch {
		case err == nil:
			for _, i := range req.points {
				v, derr := req.valueOf(s.points[i], raw)
				samples[i] = newSample(s.points[i], v, derr)
			}
		case errors.As(err, &mbErr) && !gatewayUnreachable(mbErr):
			s.log.Debug("modbus exception", "register", req.kind.String(), "address", req.address, "err", mbErr)
			for _, i := range req.points {
				samples[i] = newSample(s.points[i], nil, err)
			}
		default:
			return nil, fmt.Errorf("modbus device %q at %s: %w", s.device, s.addr, err)
		}
	}
	return samples, nil
}

// Close drops the connection. Poll fails after Close.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return s.disconnect()
}

// read performs one request, connecting first if needed. Any failure other
// than a Modbus exception discards the connection: goburrow neither drains a
// late reply after a timeout nor resyncs transaction ids, so reusing the
// connection would pair later requests with stale answers.
func (s *Source) read(ctx context.Context, r readRequest) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		timeout, err := s.requestTimeout(ctx)
		if err != nil {
			return nil, err
		}
		reused := s.client != nil
		if !reused {
			if err := s.connect(timeout); err != nil {
				return nil, err
			}
		}
		s.handler.Timeout = timeout // safe: only Send reads it, and we hold s.mu
		raw, err := s.send(r)
		if err == nil {
			return raw, nil
		}
		var mbErr *modbus.ModbusError
		if errors.As(err, &mbErr) {
			return nil, fmt.Errorf("read %s %d+%d: %w", r.kind, r.address, r.quantity, err)
		}
		s.log.Warn("modbus request failed; dropping connection",
			"register", r.kind.String(), "address", r.address, "err", err)
		_ = s.disconnect()
		// A reused connection that the device or a NAT dropped while idle
		// fails on first use with a reset or EOF; one retry on a fresh
		// connection tells that apart from a dead device. Timeouts are not
		// retried, so a dead device costs one timeout per poll, not two.
		if !reused || attempt > 0 || isTimeout(err) {
			return nil, fmt.Errorf("read %s %d+%d: %w", r.kind, r.address, r.quantity, err)
		}
	}
}

func (s *Source) send(r readRequest) ([]byte, error) {
	switch r.kind {
	case kindHolding:
		return s.client.ReadHoldingRegisters(r.address, r.quantity)
	case kindInput:
		return s.client.ReadInputRegisters(r.address, r.quantity)
	case kindCoil:
		return s.client.ReadCoils(r.address, r.quantity)
	case kindDiscrete:
		return s.client.ReadDiscreteInputs(r.address, r.quantity)
	}
	return nil, fmt.Errorf("unknown register kind %d", r.kind)
}

// requestTimeout is the configured timeout, shortened to ctx's deadline.
func (s *Source) requestTimeout(ctx context.Context) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	timeout := s.timeout
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if left <= 0 {
			return 0, context.DeadlineExceeded
		}
		timeout = min(timeout, left)
	}
	return timeout, nil
}

// connect dials a fresh handler, so a new connection also starts a new
// transaction id sequence.
func (s *Source) connect(timeout time.Duration) error {
	h := modbus.NewTCPClientHandler(s.addr)
	h.Timeout = timeout
	h.SlaveId = s.unitID
	if err := h.Connect(); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	s.log.Debug("modbus connected")
	s.handler, s.client = h, modbus.NewClient(h)
	return nil
}

func (s *Source) disconnect() error {
	if s.handler == nil {
		return nil
	}
	err := s.handler.Close()
	s.handler, s.client = nil, nil
	return err
}

// gatewayUnreachable reports exceptions meaning a gateway could not reach
// the device behind it: the device as a whole is unreachable, which the
// Source contract reports as a Poll error rather than per-point Bad samples.
func gatewayUnreachable(e *modbus.ModbusError) bool {
	return e.ExceptionCode == modbus.ExceptionCodeGatewayPathUnavailable ||
		e.ExceptionCode == modbus.ExceptionCodeGatewayTargetDeviceFailedToRespond
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// newSample builds the Sample for one point; err makes it Bad with the
// error as reason. Modbus carries no timestamps, so SourceTime stays zero.
func newSample(p point, v any, err error) protocols.Sample {
	if err != nil {
		return protocols.Sample{Point: p.name, Unit: p.unit, Quality: protocols.Bad, Reason: err.Error()}
	}
	return protocols.Sample{Point: p.name, Value: v, Unit: p.unit, Quality: protocols.Good}
}
