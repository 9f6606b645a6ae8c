// Package opcuasim is an in-process simulated OPC UA device (a small boiler)
// for tests and demos, built on gopcua's server package. It listens on a
// loopback address only and supports security policy None only. Tick, Set
// and SetStatus notify monitored items, so it serves subscriptions too
// (gopcua's server has no sampling and no deadband filters of its own).
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

	"github.com/wotchain/wotchain/protocols"
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
// WithNamespaceOffset moves it, as a server update adding a namespace would.
const NamespaceIndex = 1

// Option changes how Start builds the simulator.
type Option func(*options)

type options struct {
	nsOffset int
	filter   func(chunk []byte) []byte
}

// WithResponseFilter passes every message chunk the server sends (header
// and body; plaintext, as the simulator has no security) through f before
// the client gets it, for tests that need a server to answer what no
// correct server would. f must keep the chunk's length.
func WithResponseFilter(f func(chunk []byte) []byte) Option {
	return func(o *options) { o.filter = f }
}

// WithNamespaceOffset registers n placeholder namespaces before the
// simulator's own, so its variables get namespace index NamespaceIndex+n.
// Tests use it to check that clients resolve namespace URIs again after a
// restart instead of keeping a stale index.
func WithNamespaceOffset(n int) Option {
	return func(o *options) { o.nsOffset = n }
}

// Names lists the simulated variables in a stable order.
func Names() []string {
	return []string{Temperature, Pressure, Running, Mode, BurnerStarts}
}

// Sim is a running simulated device.
type Sim struct {
	srv       *server.Server
	nsIndex   uint16
	endpoint  string
	proxy     *proxy
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

// Start serves the simulated device on addr, which must be an IPv4 loopback
// address ("127.0.0.1:0" picks a free port). The Sim runs until Close or
// until ctx ends, whichever comes first.
func Start(ctx context.Context, addr string, logger *slog.Logger, opts ...Option) (*Sim, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.nsOffset < 0 || o.nsOffset > 100 {
		return nil, fmt.Errorf("opcuasim: namespace offset %d out of range 0..100", o.nsOffset)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("opcuasim: %w", err)
	}
	logger = protocols.Logger(logger)
	host, port, err := loopbackAddr(addr)
	if err != nil {
		return nil, fmt.Errorf("opcuasim: %w", err)
	}
	// The public port belongs to the sim's proxy (see proxy.go), so port 0
	// is resolved by the kernel here.
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("opcuasim: listen: %w", err)
	}
	public := ln.Addr().(*net.TCPAddr).Port

	// gopcua's server must be told a concrete port and cannot report the one
	// it bound, so its internal port is found by listening on :0 and closing
	// again; another process may take it in between, hence the retries.
	const attempts = 5
	for i := 1; ; i++ {
		internal, err := freePort(host)
		if err == nil {
			var s *Sim
			if s, err = start(ctx, host, public, internal, ln, logger, o); err == nil {
				return s, nil
			}
		}
		if i == attempts {
			_ = ln.Close()
			return nil, fmt.Errorf("opcuasim: start server: %w", err)
		}
		logger.Debug("opcuasim: internal port unusable, retrying", "err", err)
	}
}

func start(ctx context.Context, host string, public, internal int, ln net.Listener, logger *slog.Logger, o options) (*Sim, error) {
	srv := server.New(
		server.EnableSecurity("None", ua.MessageSecurityModeNone),
		server.EnableAuthMode(ua.UserTokenTypeAnonymous),
		// The first endpoint is the one the server listens on. The public one
		// must be listed too: GetEndpoints and CreateSession only answer with
		// endpoints whose URL equals the one the client asked for.
		server.EndPoint(host, internal),
		server.EndPoint(host, public),
		server.ServerName("wotchain OPC UA simulator"),
		server.SetLogger(printfLogger{logger.With("component", "opcuasim")}),
	)
	s := &Sim{
		srv:      srv,
		endpoint: fmt.Sprintf("opc.tcp://%s", net.JoinHostPort(host, strconv.Itoa(public))),
		done:     make(chan struct{}),
		log:      logger,
		vars:     make(map[string]*variable),
	}
	if err := s.addNodes(o.nsOffset); err != nil {
		return nil, err
	}

	// The server runs on its own context, and ctx ending triggers a full
	// Close instead. Cancelling the server's context alone stops its message
	// dispatcher but leaves the channels open, and a channel then blocks
	// handing over its next request, stalling Close for gopcua's 10 s grace
	// period (testing.T.Context, for one, ends before cleanups run).
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if err := srv.Start(sctx); err != nil {
		cancel()
		return nil, err
	}
	s.cancel = cancel
	s.proxy = newProxy(ln, net.JoinHostPort(host, strconv.Itoa(internal)), logger)
	s.proxy.filter = o.filter
	s.stopWatch = context.AfterFunc(ctx, func() { _ = s.Close() })
	logger.Info("opcuasim: serving", "endpoint", s.endpoint)
	return s, nil
}

// addNodes creates the namespace and its variables before the server starts,
// so no client ever sees a half-built address space.
func (s *Sim) addNodes(nsOffset int) error {
	for i := range nsOffset {
		server.NewNodeNameSpace(s.srv, fmt.Sprintf("urn:wotchain:opcuasim:placeholder:%d", i))
	}
	ns := server.NewNodeNameSpace(s.srv, NamespaceURI)
	if want := NamespaceIndex + nsOffset; int(ns.ID()) != want {
		return fmt.Errorf("namespace %s got index %d, want %d", NamespaceURI, ns.ID(), want)
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
		// gopcua's server uses a variable's DataType attribute as the type
		// definition of its references too (and panics on anything but an
		// ExpandedNodeID there), so the sim keeps its default, VariableNode,
		// and browsing clients see that as the data type.
		n := ns.AddNewVariableStringNode(name, s.valueFunc(name))
		folder.AddRef(n, id.HasComponent, true)
	}
	return nil
}

// Endpoint returns the URL clients connect to, e.g. "opc.tcp://127.0.0.1:4840".
func (s *Sim) Endpoint() string { return s.endpoint }

// NodeID returns the node id string of a simulated variable, e.g.
// "ns=1;s=Boiler.Temperature". It works for any name, so tests can also
// build ids of nodes that do not exist.
func (s *Sim) NodeID(name string) string {
	return ua.NewStringNodeID(s.nsIndex, name).String()
}

// NodeIDByURI returns the node id of a simulated variable in the form that
// names the namespace by URI, e.g.
// "nsu=urn:wotchain:opcuasim;s=Boiler.Temperature".
func NodeIDByURI(name string) string {
	return "nsu=" + NamespaceURI + ";s=" + name
}

// Close stops the server and drops all client connections.
func (s *Sim) Close() error {
	s.closeOnce.Do(func() {
		s.stopWatch()
		close(s.done)
		// Cut client connections first: that unblocks the server's channel
		// goroutines, so its Close returns at once (see proxy.go). Cancel
		// last, for the reason given in start.
		s.closeErr = errors.Join(s.proxy.Close(), s.srv.Close())
		s.cancel()
		s.log.Info("opcuasim: closed", "endpoint", s.endpoint)
	})
	return s.closeErr
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
