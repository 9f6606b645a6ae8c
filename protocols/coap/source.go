package coap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
	"github.com/plgd-dev/go-coap/v3/udp/client"

	"github.com/wotchain/wotchain/protocols"
)

// DefaultTimeout bounds one GET when protocols.Options.Timeout is zero. It
// leaves room for one confirmable retransmission (ACK_TIMEOUT is 2-3s).
const DefaultTimeout = 3 * time.Second

// Source polls one CoAP device. It is safe for concurrent use; polls are
// serialised.
type Source struct {
	device    string // DeviceID, or the URL when none is given, for messages
	addr      string // host:port to dial
	timeout   time.Duration
	log       *slog.Logger
	points    []Point
	resources []resource

	pollMu sync.Mutex // one Poll at a time

	mu     sync.Mutex // guards conn and closed; never held across I/O waits
	conn   *client.Conn
	closed bool
}

var _ protocols.Source = (*Source)(nil)

// resource is one path to GET and the points decoded from its answer.
type resource struct {
	path   string
	points []int // indexes into Source.points
}

// New validates cfg and prepares a Source. It does not contact the device:
// the connection is made on the first Poll, so a device that is down at
// start-up only shows up as failed polls.
func New(cfg Config, opts protocols.Options) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("coap device %q: invalid config: %w", opts.DeviceID, err)
	}
	addr, err := cfg.address()
	if err != nil { // unreachable after Validate, kept so addr is never bad
		return nil, fmt.Errorf("coap device %q: %w", opts.DeviceID, err)
	}
	device := opts.DeviceID
	if device == "" {
		device = cfg.URL
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Source{
		device:    device,
		addr:      addr,
		timeout:   timeout,
		log:       logger.With("protocol", "coap", "device", device, "url", cfg.URL),
		points:    append([]Point(nil), cfg.Points...),
		resources: groupByPath(cfg.Points),
	}, nil
}

// groupByPath lists each distinct path once, in order of first use, so
// points sharing a resource cost one GET per poll.
func groupByPath(points []Point) []resource {
	var res []resource
	index := make(map[string]int)
	for i, p := range points {
		j, ok := index[p.Path]
		if !ok {
			j = len(res)
			index[p.Path] = j
			res = append(res, resource{path: p.Path})
		}
		res[j].points = append(res[j].points, i)
	}
	return res
}

// Poll GETs every configured resource once, concurrently (go-coap paces
// them to NSTART=1 outstanding request, as RFC 7252 asks), and returns one
// sample per point in configuration order.
func (s *Source) Poll(ctx context.Context) ([]protocols.Sample, error) {
	s.pollMu.Lock()
	defer s.pollMu.Unlock()

	conn, err := s.connection()
	if err != nil {
		return nil, err
	}
	results := make([]response, len(s.resources))
	var wg sync.WaitGroup
	for i, r := range s.resources {
		wg.Go(func() { results[i] = s.fetch(ctx, conn, r.path) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("coap device %q: poll aborted: %w", s.device, err)
	}

	samples, err := buildSamples(s.points, s.resources, results)
	if err != nil {
		// The socket or the device is gone; start afresh next time rather
		// than reuse a connection go-coap may have given up on.
		s.drop(conn)
		s.log.Warn("device unreachable", "err", err)
		return nil, fmt.Errorf("coap device %q at %s: %w", s.device, s.addr, err)
	}
	return samples, nil
}

// Close releases the connection. A Poll running concurrently fails fast.
func (s *Source) Close() error {
	s.mu.Lock()
	conn := s.conn
	s.conn, s.closed = nil, true
	s.mu.Unlock()
	if conn == nil {
		return nil
	}
	if err := conn.Close(); err != nil {
		return fmt.Errorf("coap device %q: close: %w", s.device, err)
	}
	return nil
}

// connection returns the live connection, dialling a new one when there is
// none or go-coap has shut the old one (e.g. after ICMP port unreachable).
func (s *Source) connection() (*client.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("coap device %q: source is closed", s.device)
	}
	if s.conn != nil {
		if s.conn.Context().Err() == nil {
			return s.conn, nil
		}
		_ = s.conn.Close() // already dead; only releases resources
		s.conn = nil
	}
	conn, err := udp.Dial(s.addr,
		options.WithDialer(&net.Dialer{Timeout: s.timeout}),
		options.WithErrors(func(err error) {
			s.log.Debug("coap transport error", "err", err)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("coap device %q: dial %s: %w", s.device, s.addr, err)
	}
	s.log.Debug("connection opened", "addr", s.addr)
	s.conn = conn
	return conn, nil
}

// drop closes conn and forgets it, unless Close or a redial replaced it.
func (s *Source) drop(conn *client.Conn) {
	s.mu.Lock()
	if s.conn == conn {
		s.conn = nil
	}
	s.mu.Unlock()
	if err := conn.Close(); err != nil {
		s.log.Debug("closing failed connection", "err", err)
	}
}

// fetch performs one GET with the per-request timeout and copies out what
// buildSamples needs, so the pooled message can be released at once.
func (s *Source) fetch(ctx context.Context, conn *client.Conn, path string) response {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	resp, err := conn.Get(ctx, path)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no response within %v: %w", s.timeout, err)
		}
		return response{err: fmt.Errorf("GET %s: %w", path, err)}
	}
	defer conn.ReleaseMessage(resp)

	r := response{code: resp.Code()}
	if cf, err := resp.ContentFormat(); err == nil {
		r.format, r.hasFormat = cf, true
	}
	r.payload, r.bodyErr = resp.ReadBody()
	return r
}
