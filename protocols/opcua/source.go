package opcua

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	gopcua "github.com/gopcua/opcua"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"

	"github.com/wotchain/wotchain/protocols"
)

// DefaultTimeout bounds each request (connect, read, close) when
// protocols.Options.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// minReconnectDelay is the first wait after a failed connection attempt.
const minReconnectDelay = 500 * time.Millisecond

// ErrClosed is returned by Poll after Close.
var ErrClosed = errors.New("opcua: source closed")

// Source reads one OPC UA server. It is safe for concurrent use; polls are
// serialised because they share one session.
//
// Polled points are read with one Read request per Poll. Subscribed points
// are monitored items whose notifications are buffered between polls; Poll
// returns them in arrival order with Received set. When no point is polled,
// Poll still reads the server's state, so a silently dead connection is
// noticed (a subscription alone cannot tell silence from no changes).
type Source struct {
	deviceID   string
	endpoint   string
	cfg        Config
	points     []Point
	refs       []nodeRef
	subscribed []bool // by point index
	timeout    time.Duration
	log        *slog.Logger
	dialer     *dialer
	buffer     *sampleBuffer // outlives connections, so nothing pushed before a drop is lost

	mu      sync.Mutex
	conn    *connection // nil until connected, and again after a failure
	backoff *backoff
	lastErr error // why the last connection attempt failed
	hadConn bool
	closed  bool

	client     atomic.Pointer[gopcua.Client] // for Stats, which must not wait for a Poll
	reconnects atomic.Uint64
	lastReqs   atomic.Int64
	totalReqs  atomic.Uint64
}

var (
	_ protocols.Source        = (*Source)(nil)
	_ protocols.StatsReporter = (*Source)(nil)
)

// New validates cfg and returns a Source. It loads the credentials and,
// for a security policy other than None, the application certificate
// (generating it under opts.StateDir on first start). It does not connect:
// the first Poll does, so a device that is down at start-up is retried like
// any other outage instead of failing the whole configuration.
func New(cfg Config, opts protocols.Options) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("opcua: device %q: invalid config: %w", opts.DeviceID, err)
	}
	cfg.Points = slices.Clone(cfg.Points)
	refs := make([]nodeRef, len(cfg.Points))
	subscribed := make([]bool, len(cfg.Points))
	for i, p := range cfg.Points {
		ref, err := parseNodeRef(p.NodeID)
		if err != nil { // Validate already checked; kept so New never trusts it blindly
			return nil, fmt.Errorf("opcua: device %q: point %q: %w", opts.DeviceID, p.Name, err)
		}
		refs[i] = ref
		subscribed[i] = cfg.pointMode(p) == ModeSubscribe
	}

	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	logger := protocols.Logger(opts.Logger)
	log := logger.With("protocol", "opcua", "device", opts.DeviceID, "endpoint", cfg.Endpoint)
	d, err := newDialer(&cfg, cfg.Endpoint, opts.StateDir, timeout, "wotchain "+opts.DeviceID, log)
	if err != nil {
		return nil, fmt.Errorf("opcua: device %q: %w", opts.DeviceID, err)
	}
	return &Source{
		deviceID:   opts.DeviceID,
		endpoint:   cfg.Endpoint,
		cfg:        cfg,
		points:     cfg.Points,
		refs:       refs,
		subscribed: subscribed,
		timeout:    timeout,
		log:        log,
		dialer:     d,
		buffer:     newSampleBuffer(cfg.bufferSize()),
		backoff:    newBackoff(minReconnectDelay, cfg.maxReconnectDelay()),
	}, nil
}

// Poll reads the polled points and returns them with every value the
// subscriptions delivered since the previous Poll. Per-point problems come
// back as Bad samples; an error means the server could not be reached or
// did not answer, and a later Poll reconnects (with backoff after failed
// attempts) and re-creates the subscriptions.
func (s *Source) Poll(ctx context.Context) ([]protocols.Sample, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	reqs := 0
	defer func() {
		s.lastReqs.Store(int64(reqs))
		s.totalReqs.Add(uint64(reqs))
	}()

	if s.conn != nil {
		if err := s.conn.lost(); err != nil {
			s.drop("connection lost", err)
		}
	}
	if s.conn == nil {
		n, err := s.connect(ctx)
		reqs += n
		if err != nil {
			return nil, err
		}
	}

	nodes := len(s.conn.readReq.NodesToRead)
	resp, err := s.read(ctx)
	reqs++
	if err != nil {
		// Whatever broke (timeout, dropped channel, expired session), a fresh
		// connection is the one recovery that works for all of them.
		s.drop("read failed", err)
		return nil, fmt.Errorf("opcua: device %q: read %d nodes from %s: %w",
			s.deviceID, nodes, s.endpoint, err)
	}
	samples := s.conn.samples(s.points, s.subscribed, resp)
	for _, smp := range samples {
		if smp.Quality != protocols.Good {
			s.log.Debug("point not good", "point", smp.Point, "quality", smp.Quality.String(), "reason", smp.Reason)
		}
	}
	return append(samples, s.buffer.drain()...), nil
}

func (s *Source) read(ctx context.Context) (*ua.ReadResponse, error) {
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	resp, err := s.conn.client.Read(rctx, s.conn.readReq)
	if err != nil {
		return nil, err
	}
	if resp == nil || len(resp.Results) != len(s.conn.readReq.NodesToRead) {
		// Results are matched to points by position; with a wrong count
		// nothing can be attributed safely.
		n := 0
		if resp != nil {
			n = len(resp.Results)
		}
		return nil, fmt.Errorf("server returned %d results for %d nodes", n, len(s.conn.readReq.NodesToRead))
	}
	return resp, nil
}

// connect dials unless the backoff says to wait, and sets the connection up.
func (s *Source) connect(ctx context.Context) (int, error) {
	if wait := s.backoff.wait(time.Now()); wait > 0 {
		return 0, fmt.Errorf("opcua: device %q: not connected to %s, next attempt in %v; last attempt: %w",
			s.deviceID, s.endpoint, wait.Round(time.Millisecond), s.lastErr)
	}
	c, reqs, err := s.dialer.dial(ctx)
	var conn *connection
	if err == nil {
		var n int
		conn, n, err = s.setup(ctx, c)
		reqs += n
		if err != nil {
			closeClient(c, s.timeout)
		}
	}
	if err != nil {
		s.backoff.failed(time.Now())
		s.lastErr = err
		return reqs, fmt.Errorf("opcua: device %q: connect %s: %w", s.deviceID, s.endpoint, err)
	}
	s.backoff.succeeded()
	s.lastErr = nil
	if s.hadConn {
		s.reconnects.Add(1)
	}
	s.hadConn = true
	s.conn = conn
	s.client.Store(c)
	return reqs, nil
}

// setup resolves the node ids against this server's NamespaceArray, builds
// the Read request and creates the subscriptions.
func (s *Source) setup(ctx context.Context, c *gopcua.Client) (*connection, int, error) {
	namespaces := c.Namespaces()
	conn := &connection{client: c, readPos: make([]int, len(s.points)), bad: make(map[int]string)}
	var nodes []*ua.ReadValueID
	var monitors []monitor
	for i, ref := range s.refs {
		conn.readPos[i] = -1
		node, err := ref.resolve(namespaces)
		if err != nil {
			conn.bad[i] = err.Error()
			continue
		}
		if s.subscribed[i] {
			monitors = append(monitors, monitor{index: i, node: node})
			continue
		}
		conn.readPos[i] = len(nodes)
		nodes = append(nodes, &ua.ReadValueID{NodeID: node, AttributeID: ua.AttributeIDValue})
	}
	if len(nodes) == 0 {
		// Nothing to poll: read the server state so Poll still proves the
		// connection alive.
		nodes = append(nodes, &ua.ReadValueID{
			NodeID: ua.NewNumericNodeID(0, id.Server_ServerStatus_State), AttributeID: ua.AttributeIDValue,
		})
	}
	conn.readReq = &ua.ReadRequest{
		MaxAge:             0, // a fresh value from the device, not a cache
		NodesToRead:        nodes,
		TimestampsToReturn: ua.TimestampsToReturnBoth,
	}
	if len(monitors) == 0 {
		return conn, 0, nil
	}
	subs, refused, reqs, err := s.subscribe(ctx, c, monitors)
	if err != nil {
		return nil, reqs, err
	}
	conn.subs = subs
	for i, why := range refused {
		conn.bad[i] = why
		s.log.Warn("point not monitored", "point", s.points[i].Name, "node_id", s.points[i].NodeID, "reason", why)
	}
	return conn, reqs, nil
}

// drop discards the connection after a failure so the next Poll starts
// over.
func (s *Source) drop(why string, cause error) {
	s.log.Warn("disconnecting", "why", why, "err", cause)
	if err := s.conn.close(s.timeout); err != nil {
		s.log.Debug("close after failure", "err", err)
	}
	s.conn = nil
	s.client.Store(nil)
}

// Close disconnects from the server, deleting the subscriptions with the
// session. Later Polls return ErrClosed.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.conn == nil {
		return nil
	}
	err := s.conn.close(s.timeout)
	s.conn = nil
	s.client.Store(nil)
	if err != nil {
		return fmt.Errorf("opcua: device %q: close %s: %w", s.deviceID, s.endpoint, err)
	}
	return nil
}

// Stats reports the connection statistics. RequestsLastPoll and
// RequestsTotal count the service requests Poll sent (a reconnect counts
// GetEndpoints, CreateSession, ActivateSession, the NamespaceArray read
// and two per subscription); the Publish requests gopcua sends in the
// background are not counted.
func (s *Source) Stats() protocols.Stats {
	c := s.client.Load()
	return protocols.Stats{
		Connected:        c != nil && c.State() == gopcua.Connected,
		Reconnects:       s.reconnects.Load(),
		RequestsLastPoll: int(s.lastReqs.Load()),
		RequestsTotal:    s.totalReqs.Load(),
	}
}
