package modbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/goburrow/modbus"

	"github.com/wotchain/wotchain/protocols"
)

// port is one physical connection (a TCP connection or a serial line) and
// the units reached through it. Modbus carries one transaction at a time on
// it, so it has exactly one lock, held for one request, never for a whole
// poll: a dead unit costs the others at most one timeout per turn.
type port struct {
	ep  endpoint
	log *slog.Logger
	// lock is a channel rather than a mutex: waiting can be cancelled by a
	// context, and waiters are served in arrival order, so every unit gets
	// its turn.
	lock chan struct{}
	refs atomic.Int32 // Sources using the port; changed under Bus.mu

	// Guarded by lock.
	link      link
	client    modbus.Client
	setUnit   func(byte)
	gen       uint64    // connection generation: +1 per opened link
	lastEnd   time.Time // when the previous request finished
	drainNext bool      // serial: discard late answers before the next request
}

func newPort(ep endpoint, log *slog.Logger) *port {
	return &port{ep: ep, log: protocols.Logger(log).With("port", ep.key()), lock: make(chan struct{}, 1)}
}

// call is one read request for one unit.
type call struct {
	unit    byte
	req     readRequest
	timeout time.Duration
	pause   time.Duration // least time since the port's previous request
}

// outcome says what a call cost and on which connection it ran.
type outcome struct {
	gen  uint64 // connection generation used; 0 if none could be opened
	sent int    // requests put on the wire
}

// read performs one request, opening the link first if needed. A Modbus
// exception is returned as *modbus.ModbusError and keeps the link. Any other
// failure drops it (serial: drains it), because goburrow neither discards a
// late reply after a timeout nor resyncs transaction ids, and RTU has none:
// a reused link could pair the next request with the stale answer.
func (p *port) read(ctx context.Context, c call) ([]byte, outcome, error) {
	var out outcome
	if err := p.acquire(ctx); err != nil {
		return nil, out, err
	}
	defer p.release()

	for attempt := 0; ; attempt++ {
		reused := p.link != nil
		if err := p.ready(ctx, c.timeout); err != nil {
			return nil, out, err
		}
		out.gen = p.gen
		if err := p.wait(ctx, c.pause); err != nil {
			return nil, out, err
		}
		raw, err := p.send(ctx, c)
		out.sent++
		if err == nil || isException(err, c.req.kind) {
			return raw, out, err
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		// Debug: the caller reports the error; this says what it cost.
		p.log.Debug("modbus request failed; resetting the connection",
			"unit", c.unit, "request", c.req.String(), "err", err)
		p.reset()
		// A reused TCP connection that the device or a NAT dropped while
		// idle fails on first use with a reset or EOF; one retry on a fresh
		// connection tells that apart from a dead device. Timeouts are not
		// retried, so a dead device costs one timeout per turn, not two.
		if !reused || attempt > 0 || isTimeout(err) || ctx.Err() != nil || p.ep.transport == transportRTU {
			return nil, out, err
		}
	}
}

func (p *port) acquire(ctx context.Context) error {
	select {
	case p.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *port) release() { <-p.lock }

// ready opens the link if there is none and drains a serial line after a
// failed request. p.lock must be held.
func (p *port) ready(ctx context.Context, timeout time.Duration) error {
	if p.link == nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		l, err := openLink(ctx, p.ep, timeout)
		if err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		p.link = l
		p.gen++
		p.client, p.setUnit = newClient(p.ep.transport, l)
		p.log.Debug("modbus port open", "generation", p.gen)
	}
	if sl, ok := p.link.(*serialLink); ok && p.drainNext {
		quiet := 20*time.Millisecond + 4*frameGap(p.ep.serial.Baud)
		if err := sl.drain(quiet, 10*quiet); err != nil {
			p.close()
			return fmt.Errorf("serial line: %w", err)
		}
		p.drainNext = false
	}
	return nil
}

// wait keeps the configured pause, and on a serial line the silent interval
// RTU needs between frames, since the previous request ended.
func (p *port) wait(ctx context.Context, pause time.Duration) error {
	if p.ep.transport == transportRTU {
		pause = max(pause, frameGap(p.ep.serial.Baud))
	}
	d := time.Until(p.lastEnd.Add(pause))
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// send runs one request under the call's timeout, shortened to ctx's
// deadline; cancelling ctx interrupts it.
func (p *port) send(ctx context.Context, c call) ([]byte, error) {
	defer func() { p.lastEnd = time.Now() }()
	deadline := time.Now().Add(c.timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	l := p.link
	if err := l.SetDeadline(deadline); err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = l.SetDeadline(time.Unix(1, 0)) })
	p.setUnit(c.unit)
	raw, err := readItems(p.client, c.req)
	if !stop() {
		// ctx ended during the request: the interrupt may still land on
		// the link, so the next request must not inherit it.
		_ = p.close()
	}
	var mbErr *modbus.ModbusError
	if errors.As(err, &mbErr) && !isException(err, c.req.kind) {
		// goburrow reports any unexpected function code as an exception.
		return nil, fmt.Errorf("response function 0x%02x to request 0x%02x", mbErr.FunctionCode, c.req.kind.functionCode())
	}
	return raw, err
}

// newClient composes goburrow's client and packager for the transport with
// a streamTransporter over l. setUnit addresses the following requests; the
// packager is per connection, so the caller's lock covers it.
func newClient(t transport, l link) (client modbus.Client, setUnit func(byte)) {
	if t == transportTCP {
		h := modbus.NewTCPClientHandler("") // the packager only: it never dials
		return modbus.NewClient2(h, &streamTransporter{link: l, frame: readMBAPFrame, buffered: true}), func(u byte) { h.SlaveId = u }
	}
	h := modbus.NewRTUClientHandler("") // the packager only: it never opens a port
	return modbus.NewClient2(h, &streamTransporter{link: l, frame: readRTUFrame}), func(u byte) { h.SlaveId = u }
}

// readItems sends the read for r's table.
func readItems(c modbus.Client, r readRequest) ([]byte, error) {
	switch r.kind {
	case kindHolding:
		return c.ReadHoldingRegisters(r.address, r.quantity)
	case kindInput:
		return c.ReadInputRegisters(r.address, r.quantity)
	case kindCoil:
		return c.ReadCoils(r.address, r.quantity)
	case kindDiscrete:
		return c.ReadDiscreteInputs(r.address, r.quantity)
	}
	return nil, fmt.Errorf("unknown register kind %d", r.kind)
}

// reset makes the next request start clean: a fresh connection, or on a
// serial line (which cannot be re-dialled) a drained one.
func (p *port) reset() {
	if _, ok := p.link.(*serialLink); ok {
		p.drainNext = true
		return
	}
	_ = p.close()
}

func (p *port) close() error {
	if p.link == nil {
		return nil
	}
	err := p.link.Close()
	p.link, p.client, p.setUnit = nil, nil, nil
	return err
}

// shutdown closes the link once no request is in flight.
func (p *port) shutdown() error {
	p.lock <- struct{}{}
	defer p.release()
	return p.close()
}

// isException reports whether err is a genuine exception response to a
// read of kind k: the device answered, the link is in sync.
func isException(err error, k registerKind) bool {
	var e *modbus.ModbusError
	return errors.As(err, &e) && e.FunctionCode == k.functionCode()|0x80
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
