// Package opcuasim is an in-process simulated OPC UA device (a small boiler)
// for tests and demos, built on gopcua's server package. It listens on a
// loopback address only and supports security policy None only.
//
// A device entry polling every demo variable:
//
//	endpoint: opc.tcp://127.0.0.1:4840
//	points:
//	  - {name: temperature,   node_id: "ns=1;s=Boiler.Temperature", unit: "°C"}
//	  - {name: pressure,      node_id: "ns=1;s=Boiler.Pressure",    unit: "bar"}
//	  - {name: running,       node_id: "ns=1;s=Boiler.Running"}
//	  - {name: mode,          node_id: "ns=1;s=Boiler.Mode"}
//	  - {name: burner_starts, node_id: "ns=1;s=Boiler.BurnerStarts"}
package opcuasim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/ua"
)

// Names of the simulated variables. Each is a string node id in namespace
// NamespaceIndex: "ns=1;s=<name>".
const (
	Temperature  = "Boiler.Temperature"  // Double, °C, oscillates around 85
	Pressure     = "Boiler.Pressure"     // Double, bar, oscillates around 2.5
	Running      = "Boiler.Running"      // Boolean, burner on for 15 of every 20 ticks
	Mode         = "Boiler.Mode"         // String, "auto"
	BurnerStarts = "Boiler.BurnerStarts" // Int32, +1 per tick
)

// NamespaceURI names the simulator's namespace in the server's
// NamespaceArray.
const NamespaceURI = "urn:wotchain:opcuasim"

// NamespaceIndex is the index gopcua gives the simulator's namespace: the
// server starts with namespace 0 only (its built-in node set declares no
// further namespace URIs), so the first one added gets 1. Start checks it.
const NamespaceIndex = 1

// Names lists the simulated variables in a stable order.
func Names() []string {
	return []string{Temperature, Pressure, Running, Mode, BurnerStarts}
}

// Sim is a running simulated device.
type Sim struct {
	srv       *server.Server
	nsIndex   uint16
	endpoint  string
	cancel    context.CancelFunc // stops the server's goroutines
	stopWatch func() bool        // detaches Close from the Start ctx
	done      chan struct{}
	log       *slog.Logger

	mu   sync.Mutex
	vars map[string]*variable
	step int

	closeOnce sync.Once
	closeErr  error
}

// variable is the current state of one node, served by its value func.
type variable struct {
	value   *ua.Variant // nil serves a DataValue without a value
	status  ua.StatusCode
	updated time.Time
}

// Start serves the simulated device on addr, which must be a loopback
// address ("127.0.0.1:0" picks a free port). The Sim runs until Close or
// until ctx ends, whichever comes first.
func Start(ctx context.Context, addr string, logger *slog.Logger) (*Sim, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("opcuasim: %w", err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	host, port, err := loopbackAddr(addr)
	if err != nil {
		return nil, fmt.Errorf("opcuasim: %w", err)
	}

	// gopcua's server cannot report the port it bound (its listener is
	// unexported and URLs() echoes the configured endpoints), so for port 0
	// we find a free port ourselves and hand it over. Another process may
	// grab it in between, hence the retries.
	attempts := 1
	if port == 0 {
		attempts = 5
	}
	for i := 0; ; i++ {
		p := port
		if p == 0 {
			if p, err = freePort(host); err != nil {
				return nil, fmt.Errorf("opcuasim: %w", err)
			}
		}
		s, err := start(ctx, host, p, logger)
		if err == nil {
			return s, nil
		}
		if i+1 >= attempts {
			return nil, fmt.Errorf("opcuasim: start on %s: %w", net.JoinHostPort(host, strconv.Itoa(p)), err)
		}
		logger.Debug("opcuasim: port taken, retrying", "port", p, "err", err)
	}
}

func start(ctx context.Context, host string, port int, logger *slog.Logger) (*Sim, error) {
	srv := server.New(
		server.EnableSecurity("None", ua.MessageSecurityModeNone),
		server.EnableAuthMode(ua.UserTokenTypeAnonymous),
		server.EndPoint(host, port),
		server.ServerName("wotchain OPC UA simulator"),
		server.SetLogger(printfLogger{logger.With("component", "opcuasim")}),
	)
	s := &Sim{
		srv:      srv,
		endpoint: fmt.Sprintf("opc.tcp://%s", net.JoinHostPort(host, strconv.Itoa(port))),
		done:     make(chan struct{}),
		log:      logger,
		vars:     make(map[string]*variable),
	}
	if err := s.addNodes(); err != nil {
		return nil, err
	}

	// The server runs on its own context, and ctx ending triggers a full
	// Close instead. Cancelling the server's context alone stops its message
	// dispatcher but leaves the listener and channels open, and a channel
	// then blocks handing over its next request, stalling Close for gopcua's
	// 10 s grace period (testing.T.Context, for one, ends before cleanups).
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if err := srv.Start(sctx); err != nil {
		cancel()
		return nil, err
	}
	s.cancel = cancel
	s.stopWatch = context.AfterFunc(ctx, func() { _ = s.Close() })
	logger.Info("opcuasim: serving", "endpoint", s.endpoint)
	return s, nil
}

// addNodes creates the namespace and its variables before the server starts,
// so no client ever sees a half-built address space.
func (s *Sim) addNodes() error {
	ns := server.NewNodeNameSpace(s.srv, NamespaceURI)
	if ns.ID() != NamespaceIndex {
		return fmt.Errorf("namespace %s got index %d, want %d", NamespaceURI, ns.ID(), NamespaceIndex)
	}
	s.nsIndex = ns.ID()

	root, err := s.srv.Namespace(0)
	if err != nil {
		return fmt.Errorf("namespace 0: %w", err)
	}
	// Objects -> simulator folder -> variables, so clients can browse to them.
	folder := ns.Objects()
	root.Objects().AddRef(folder, id.HasComponent, true)

	s.resetLocked(time.Now())
	for _, name := range Names() {
		n := ns.AddNewVariableStringNode(name, s.valueFunc(name))
		folder.AddRef(n, id.HasComponent, true)
	}
	return nil
}

// valueFunc serves a variable's current state. It must have the plain type
// func() *ua.DataValue: gopcua's NewVariableNode only recognises that type
// and would otherwise serve the func itself as a constant value.
func (s *Sim) valueFunc(name string) func() *ua.DataValue {
	return func() *ua.DataValue {
		s.mu.Lock()
		v := *s.vars[name]
		s.mu.Unlock()

		// Build the DataValue by hand: server.DataValueFromValue fills
		// SourceTimestamp but leaves it out of the encoding mask, so it
		// would never reach the client.
		dv := &ua.DataValue{
			Value:           v.value,
			Status:          v.status,
			SourceTimestamp: v.updated,
			ServerTimestamp: time.Now(),
		}
		dv.UpdateMask()
		return dv
	}
}

// Endpoint returns the URL clients connect to, e.g. "opc.tcp://127.0.0.1:4840".
func (s *Sim) Endpoint() string { return s.endpoint }

// NodeID returns the node id string of a simulated variable, e.g.
// "ns=1;s=Boiler.Temperature". It works for any name, so tests can also
// build ids of nodes that do not exist.
func (s *Sim) NodeID(name string) string {
	return ua.NewStringNodeID(s.nsIndex, name).String()
}

// Close stops the server and drops all client connections.
func (s *Sim) Close() error {
	s.closeOnce.Do(func() {
		s.stopWatch()
		close(s.done)
		// Close before cancelling, for the reason given in start.
		s.closeErr = s.srv.Close()
		s.cancel()
		s.log.Info("opcuasim: closed", "endpoint", s.endpoint)
	})
	return s.closeErr
}

// Set replaces a variable's value; nil serves no value. Values of types an
// OPC UA variant cannot hold, and unknown names, are logged and ignored.
func (s *Sim) Set(name string, v any) {
	var variant *ua.Variant
	if v != nil {
		var err error
		if variant, err = ua.NewVariant(v); err != nil {
			s.log.Error("opcuasim: set", "name", name, "err", err)
			return
		}
	}
	s.update(name, func(x *variable) { x.value = variant })
}

// SetStatus makes a variable report code (ua.StatusOK to clear it); the
// value is kept.
func (s *Sim) SetStatus(name string, code ua.StatusCode) {
	s.update(name, func(x *variable) { x.status = code })
}

func (s *Sim) update(name string, f func(*variable)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.vars[name]
	if !ok {
		s.log.Error("opcuasim: unknown variable", "name", name)
		return
	}
	f(x)
	x.updated = time.Now()
}

// Run calls Tick every interval until ctx is done or the Sim is closed.
func (s *Sim) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case <-t.C:
			s.Tick()
		}
	}
}

// Tick advances the demo values one step. Values depend only on the step
// count (and BurnerStarts on its previous value), so tests can predict them.
func (s *Sim) Tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.step++
	now := time.Now()
	d := demoValues(s.step)
	s.setLocked(Temperature, d.temperature, now)
	s.setLocked(Pressure, d.pressure, now)
	s.setLocked(Running, d.running, now)
	s.setLocked(Mode, "auto", now)

	starts := int32(0)
	if x := s.vars[BurnerStarts]; x.value != nil {
		starts, _ = x.value.Value().(int32) // a test may have Set another type; restart at 0
	}
	s.setLocked(BurnerStarts, starts+1, now)
}

// resetLocked sets the step-0 values.
func (s *Sim) resetLocked(now time.Time) {
	d := demoValues(0)
	s.setLocked(Temperature, d.temperature, now)
	s.setLocked(Pressure, d.pressure, now)
	s.setLocked(Running, d.running, now)
	s.setLocked(Mode, "auto", now)
	s.setLocked(BurnerStarts, int32(0), now)
}

// setLocked stores a value of a type known to be variant-compatible.
func (s *Sim) setLocked(name string, v any, now time.Time) {
	x, ok := s.vars[name]
	if !ok {
		x = &variable{}
		s.vars[name] = x
	}
	x.value = ua.MustVariant(v) // only called with float64, bool, string, int32
	x.updated = now
}

func loopbackAddr(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: %w", addr, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	// IPv4 only: gopcua formats endpoints as host:port without brackets.
	if ip := net.ParseIP(host); ip == nil || ip.To4() == nil || !ip.IsLoopback() {
		return "", 0, fmt.Errorf("address %q: host must be an IPv4 loopback address", addr)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("address %q: invalid port", addr)
	}
	return host, port, nil
}

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	a, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("find free port: not a TCP address")
	}
	return a.Port, nil
}
