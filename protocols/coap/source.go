package coap

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/plgd-dev/go-coap/v3/udp/client"

	"github.com/wotchain/wotchain/protocols"
)

// DefaultTimeout bounds one request when protocols.Options.Timeout is zero.
// It leaves room for one confirmable retransmission (ACK_TIMEOUT is 2-3s).
const DefaultTimeout = 3 * time.Second

// Source reads one CoAP device. It is safe for concurrent use; polls are
// serialised.
type Source struct {
	device      string // DeviceID, or the URL when none is given, for messages
	addr        string // host:port to dial
	dialer      dialer
	timeout     time.Duration
	confirmable bool
	obsTimeout  time.Duration // zero: Max-Age plus timeout
	obsCapacity int
	log         *slog.Logger
	points      []Point
	resources   []resource

	pollMu sync.Mutex // one Poll at a time; guards the observations' registration state

	mu     sync.Mutex // guards conn, closed and stats; never held across I/O waits
	conn   *client.Conn
	closed bool
	dialed bool // a connection was established before: later dials are reconnections
	stats  protocols.Stats

	background sync.WaitGroup // deregistrations of replaced observations
}

var (
	_ protocols.Source        = (*Source)(nil)
	_ protocols.StatsReporter = (*Source)(nil)
)

// resource is one path and the points decoded from its representation.
type resource struct {
	path   string
	points []int        // indexes into Source.points
	obs    *observation // nil when the resource is polled with GET
}

// New validates cfg, loads DTLS credentials and prepares a Source. It does
// not contact the device: the connection is made on the first Poll, so a
// device that is down at start-up only shows up as failed polls.
func New(cfg Config, opts protocols.Options) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("coap device %q: invalid config: %w", opts.DeviceID, err)
	}
	addr, secure, err := cfg.endpoint()
	if err != nil { // unreachable after Validate, kept so addr is never bad
		return nil, fmt.Errorf("coap device %q: %w", opts.DeviceID, err)
	}
	device := opts.DeviceID
	if device == "" {
		device = cfg.URL
	}
	logger := protocols.Logger(opts.Logger)
	logger = logger.With("protocol", "coap", "device", device, "url", cfg.URL)
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	d := dialer{addr: addr, log: logger}
	if secure {
		if d.dtls, err = cfg.dtlsOptions(); err != nil {
			return nil, fmt.Errorf("coap device %q: %w", device, err)
		}
	}
	return &Source{
		device:      device,
		addr:        addr,
		dialer:      d,
		timeout:     timeout,
		confirmable: cfg.confirmable(),
		obsTimeout:  cfg.ObserveTimeout.D(),
		obsCapacity: cfg.observeBuffer(),
		log:         logger,
		points:      append([]Point(nil), cfg.Points...),
		resources:   groupByPath(&cfg),
	}, nil
}

// groupByPath lists each distinct path once, in order of first use, so
// points sharing a resource cost one request (or one observation).
// Validate guarantees that they agree on observe.
func groupByPath(cfg *Config) []resource {
	var res []resource
	index := make(map[string]int)
	for i, p := range cfg.Points {
		j, ok := index[p.Path]
		if !ok {
			j = len(res)
			index[p.Path] = j
			r := resource{path: p.Path}
			if cfg.observed(p) {
				r.obs = newObservation(p.Path, cfg.observeBuffer())
			}
			res = append(res, r)
		}
		res[j].points = append(res[j].points, i)
	}
	return res
}

// Close releases the connection and waits for pending deregistrations. A
// Poll running concurrently fails fast. Observations are not cancelled
// on the device: it learns of their end from the closed endpoint (RFC 7641
// §3.6), and Close must not wait for an unreachable device.
func (s *Source) Close() error {
	s.mu.Lock()
	conn := s.conn
	s.conn, s.closed = nil, true
	s.stats.Connected = false
	s.mu.Unlock()
	var err error
	if conn != nil {
		if cerr := conn.Close(); cerr != nil {
			err = fmt.Errorf("coap device %q: close: %w", s.device, cerr)
		}
	}
	s.background.Wait()
	return err
}

// Stats returns the connection statistics.
func (s *Source) Stats() protocols.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// connection returns the live connection, dialling a new one when there is
// none or go-coap has shut the old one (e.g. after ICMP port unreachable).
func (s *Source) connection(ctx context.Context) (*client.Conn, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fmt.Errorf("coap device %q: source is closed", s.device)
	}
	if s.conn != nil {
		if s.conn.Context().Err() == nil {
			conn := s.conn
			s.mu.Unlock()
			return conn, nil
		}
		_ = s.conn.Close() // already dead; only releases resources
		s.conn = nil
	}
	s.mu.Unlock()

	// Dial without the lock: a DTLS handshake takes round trips, and Stats
	// and Close must not wait for it.
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	conn, err := s.dialer.dial(ctx)
	if err != nil {
		s.mu.Lock()
		s.stats.Connected = false
		s.mu.Unlock()
		return nil, fmt.Errorf("coap device %q: %w", s.device, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed { // Close ran during the handshake
		_ = conn.Close()
		return nil, fmt.Errorf("coap device %q: source is closed", s.device)
	}
	// A connection is only replaced after it failed, so every dial after
	// the first successful one re-establishes it.
	if s.dialed {
		s.stats.Reconnects++
	}
	s.dialed = true
	s.conn = conn
	s.log.Debug("connection opened", "addr", s.addr)
	return conn, nil
}

// drop closes conn and forgets it, unless Close or a redial replaced it.
func (s *Source) drop(conn *client.Conn) {
	s.mu.Lock()
	if s.conn == conn {
		s.conn = nil
		s.stats.Connected = false
	}
	s.mu.Unlock()
	if err := conn.Close(); err != nil {
		s.log.Debug("closing failed connection", "err", err)
	}
}
