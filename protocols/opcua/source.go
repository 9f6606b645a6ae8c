package opcua

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	gopcua "github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"

	"github.com/wotchain/wotchain/protocols"
)

// DefaultTimeout bounds each request (connect, read, close) when
// protocols.Options.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// ErrClosed is returned by Poll after Close.
var ErrClosed = errors.New("opcua: source closed")

// Source polls one OPC UA server. It is safe for concurrent use; polls are
// serialised because they share one client connection.
type Source struct {
	deviceID string
	endpoint string
	points   []Point
	req      *ua.ReadRequest
	timeout  time.Duration
	log      *slog.Logger

	mu     sync.Mutex
	client *gopcua.Client // nil until connected, and again after a failure
	closed bool
}

var _ protocols.Source = (*Source)(nil)

// New validates cfg and returns a Source. It does not connect: the first
// Poll does, so a device that is down at start-up is retried like any other
// outage instead of failing the whole configuration.
func New(cfg Config, opts protocols.Options) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("opcua: device %q: invalid config: %w", opts.DeviceID, err)
	}
	if cfg.policy() != PolicyNone {
		return nil, fmt.Errorf("opcua: device %q: security policy %s is not supported yet (only None)",
			opts.DeviceID, cfg.policy())
	}

	nodes := make([]*ua.ReadValueID, len(cfg.Points))
	for i, p := range cfg.Points {
		id, err := ua.ParseNodeID(p.NodeID)
		if err != nil { // Validate already checked; kept so New never trusts it blindly
			return nil, fmt.Errorf("opcua: device %q: point %q: node id %q: %w", opts.DeviceID, p.Name, p.NodeID, err)
		}
		nodes[i] = &ua.ReadValueID{NodeID: id, AttributeID: ua.AttributeIDValue}
	}

	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Source{
		deviceID: opts.DeviceID,
		endpoint: cfg.Endpoint,
		points:   append([]Point(nil), cfg.Points...),
		req: &ua.ReadRequest{
			// MaxAge 0 asks for a fresh value from the device, not a cache.
			MaxAge:             0,
			NodesToRead:        nodes,
			TimestampsToReturn: ua.TimestampsToReturnBoth,
		},
		timeout: timeout,
		log:     logger.With("protocol", "opcua", "device", opts.DeviceID, "endpoint", cfg.Endpoint),
	}, nil
}

// Poll reads every configured point with a single Read request. Per-node
// problems come back as Bad samples; an error means the server could not be
// reached or did not answer, and the next Poll reconnects.
func (s *Source) Poll(ctx context.Context) ([]protocols.Sample, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.client == nil {
		c, err := s.connect(ctx)
		if err != nil {
			return nil, fmt.Errorf("opcua: device %q: connect %s: %w", s.deviceID, s.endpoint, err)
		}
		s.client = c
	}

	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	resp, err := s.client.Read(rctx, s.req)
	if err != nil {
		// Whatever broke (timeout, dropped channel, expired session), a fresh
		// connection is the one recovery that works for all of them.
		s.dropClient("read failed", err)
		return nil, fmt.Errorf("opcua: device %q: read %d nodes from %s: %w", s.deviceID, len(s.points), s.endpoint, err)
	}
	if resp == nil || len(resp.Results) != len(s.points) {
		// Results are matched to points by position; with a wrong count
		// nothing can be attributed safely.
		n := 0
		if resp != nil {
			n = len(resp.Results)
		}
		return nil, fmt.Errorf("opcua: device %q: read from %s returned %d results for %d nodes",
			s.deviceID, s.endpoint, n, len(s.points))
	}

	samples := make([]protocols.Sample, len(s.points))
	for i, p := range s.points {
		samples[i] = toSample(p, resp.Results[i])
		if samples[i].Quality != protocols.Good {
			s.log.Debug("point not good", "point", p.Name, "node_id", p.NodeID,
				"quality", samples[i].Quality.String(), "reason", samples[i].Reason)
		}
	}
	return samples, nil
}

// Close disconnects from the server. Later Polls return ErrClosed.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.client == nil {
		return nil
	}
	err := s.closeClient(s.client)
	s.client = nil
	if err != nil {
		return fmt.Errorf("opcua: device %q: close %s: %w", s.deviceID, s.endpoint, err)
	}
	return nil
}

// connect opens a secure channel and an anonymous session. The endpoint is
// looked up first because servers name their anonymous token policy freely
// and many reject a session that does not quote it.
func (s *Source) connect(ctx context.Context) (*gopcua.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	base := []gopcua.Option{
		gopcua.AutoReconnect(false), // Poll reconnects; a background loop would race it
		gopcua.RequestTimeout(s.timeout),
		gopcua.DialTimeout(s.timeout),
	}
	eps, err := gopcua.GetEndpoints(ctx, s.endpoint, base...)
	if err != nil {
		return nil, fmt.Errorf("get endpoints: %w", err)
	}
	ep, err := gopcua.SelectEndpoint(eps, ua.SecurityPolicyURINone, ua.MessageSecurityModeNone)
	if err != nil {
		return nil, fmt.Errorf("server offers no endpoint with security None: %w", err)
	}

	opts := append(base, gopcua.SecurityFromEndpoint(ep, ua.UserTokenTypeAnonymous))
	// Connect to the configured URL, not ep.EndpointURL: servers often
	// advertise a host name the appliance cannot resolve.
	c, err := gopcua.NewClient(s.endpoint, opts...)
	if err != nil {
		return nil, fmt.Errorf("new client: %w", err)
	}
	if err := c.Connect(ctx); err != nil {
		_ = s.closeClient(c) // Connect leaves the dialled socket open on some failures
		return nil, err
	}
	s.log.Info("connected")
	return c, nil
}

// dropClient discards the current client after a failure so the next Poll
// starts over with a fresh connection.
func (s *Source) dropClient(why string, cause error) {
	s.log.Warn("disconnecting", "why", why, "err", cause)
	if err := s.closeClient(s.client); err != nil {
		s.log.Debug("close after failure", "err", err)
	}
	s.client = nil
}

// closeClient closes c within the request timeout: closing sends a
// CloseSession request, which must not hang on a dead server.
func (s *Source) closeClient(c *gopcua.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	return c.Close(ctx)
}
