package modbussim

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/wotchain/wotchain/protocols"
)

// Gateway forwards requests to an upstream Modbus TCP server (normally a
// Sim), re-framing them as its clients speak: it stands in for RTU devices,
// serial-to-Ethernet converters and gateways. It can misbehave on purpose:
// stay silent for some units, as a dead unit on a serial bus does, or answer
// one request late. Each client connection is served in order, one request
// at a time, as a serial bus would.
type Gateway struct {
	upstream string
	log      *slog.Logger
	closing  chan struct{}
	wg       sync.WaitGroup

	mu       sync.Mutex
	accepted int // client connections accepted
	open     int // client connections being served
	silent   map[uint8]bool
	delay    time.Duration
	delayed  chan struct{}
	closers  []io.Closer
	closed   bool
}

// NewGateway returns a Gateway in front of the Modbus TCP server at
// upstream (host:port). A nil logger discards its log.
func NewGateway(upstream string, logger *slog.Logger) *Gateway {
	logger = protocols.Logger(logger)
	return &Gateway{upstream: upstream, log: logger, closing: make(chan struct{}), silent: make(map[uint8]bool)}
}

// Listen accepts clients speaking f on addr (host:port; port 0 picks one)
// and returns the address it listens on.
func (g *Gateway) Listen(addr string, f Framing) (string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("modbussim gateway: listen on %s: %w", addr, err)
	}
	if !g.track(l) {
		return "", errors.New("modbussim gateway: closed")
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if !g.track(c) {
				return
			}
			g.count(1)
			g.wg.Add(1)
			go func() {
				defer g.wg.Done()
				defer g.count(-1)
				defer c.Close()
				g.serve(c, f)
			}()
		}
	}()
	return l.Addr().String(), nil
}

// Conns reports how many client connections the gateway has accepted in
// all, and how many are open now.
func (g *Gateway) Conns() (accepted, open int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.accepted, g.open
}

func (g *Gateway) count(delta int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if delta > 0 {
		g.accepted++
	}
	g.open += delta
}

// Silence makes the gateway drop every request for unit (silent true), or
// answer them again.
func (g *Gateway) Silence(unit uint8, silent bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.silent[unit] = silent
}

// DelayNext holds the next response back for d. The returned channel is
// closed once that response has been written (or failed to be, because the
// client had hung up).
func (g *Gateway) DelayNext(d time.Duration) <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.delay, g.delayed = d, make(chan struct{})
	return g.delayed
}

// Close stops listening, drops every client and waits for the sessions.
func (g *Gateway) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	close(g.closing)
	closers := g.closers
	g.closers = nil
	g.mu.Unlock()
	var errs []error
	for _, c := range closers {
		if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	g.wg.Wait()
	return errors.Join(errs...)
}

// track registers c to be closed by Close; false if already closed.
func (g *Gateway) track(c io.Closer) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		_ = c.Close()
		return false
	}
	g.closers = append(g.closers, c)
	return true
}

// serve answers one client until it hangs up or the gateway closes.
func (g *Gateway) serve(rw io.ReadWriter, f Framing) {
	r := bufio.NewReader(rw)
	up := &upstream{addr: g.upstream}
	defer up.close()
	for {
		req, err := readRequest(r, f)
		if errors.Is(err, errSkip) {
			g.log.Debug("modbussim gateway: dropped a request frame", "err", err)
			continue
		}
		if err != nil {
			return
		}
		if g.isSilent(req.unit) {
			continue
		}
		pdu, err := up.forward(req.unit, req.pdu)
		if err != nil {
			g.log.Warn("modbussim gateway: upstream failed", "err", err)
			return
		}
		frame := encodeResponse(f, req, pdu)
		if d, done := g.takeDelay(); done != nil {
			select {
			case <-time.After(d):
			case <-g.closing:
			}
			_, err = rw.Write(frame)
			close(done)
		} else {
			_, err = rw.Write(frame)
		}
		if err != nil {
			return
		}
	}
}

func (g *Gateway) isSilent(unit uint8) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.silent[unit]
}

// takeDelay returns the pending delay, once.
func (g *Gateway) takeDelay() (time.Duration, chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	d, done := g.delay, g.delayed
	g.delay, g.delayed = 0, nil
	return d, done
}

// upstream is one session's Modbus TCP connection to the server behind.
type upstream struct {
	addr string
	conn net.Conn
	tid  uint16
}

const upstreamTimeout = 5 * time.Second

// forward sends one PDU and returns the response PDU.
func (u *upstream) forward(unit uint8, pdu []byte) ([]byte, error) {
	if u.conn == nil {
		c, err := net.DialTimeout("tcp", u.addr, upstreamTimeout)
		if err != nil {
			return nil, err
		}
		u.conn = c
	}
	u.tid++
	req := encodeResponse(FramingTCP, request{tid: u.tid, unit: unit}, pdu)
	_ = u.conn.SetDeadline(time.Now().Add(upstreamTimeout))
	if _, err := u.conn.Write(req); err != nil {
		return nil, err
	}
	var hdr [7]byte
	if _, err := io.ReadFull(u.conn, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[4:]))
	if binary.BigEndian.Uint16(hdr[:]) != u.tid || n < 2 || n > 254 {
		return nil, fmt.Errorf("bad upstream response header % x", hdr)
	}
	resp := make([]byte, n-1)
	if _, err := io.ReadFull(u.conn, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

func (u *upstream) close() {
	if u.conn != nil {
		_ = u.conn.Close()
	}
}
