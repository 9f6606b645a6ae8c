// Package coapsim is an in-process CoAP device for tests and demos. It
// serves a few sensor resources over UDP, or DTLS with WithPSK or
// WithCertificate, on the loopback interface only.
//
// Demo resources (write a device config against these):
//
//	path               content format         value
//	/sensors/humidity  text/plain             float, e.g. "45.0" (44.2..45.8, always one decimal)
//	/sensors/env       application/json       {"temperature": 22.5, "co2": 415, "fan": true, "site": "line-1"}
//	                                          temperature: float, one decimal (21.5..23.5)
//	                                          co2: integer (405..425); fan: bool; site: string
//	/sensors/door      text/plain             bool, "false"/"true" toggling every Tick
//	/sensors/cbor      application/cbor       {"temperature": float, "counter": step, "status": "ok",
//	                                           "nested": {"levels": [step, step+1, step+2]}, 7: "seven"}
//	/data/large        application/json       about 3 KiB (Block2): {"step", "items": [...], "total"}
//	/senml/json        application/senml+json SenML pack, base name SenMLBaseName: three "temp"
//	/senml/cbor        application/senml+cbor records (bt-2, bt-1, bt; unit Cel), "humidity" (%RH),
//	                                          "door" (vb), "label" (vs), "blob" (vd)
//
// Every resource can be observed (RFC 7641): Tick and Set notify the
// observers of what changed, in order, as confirmable notifications.
// Any other path answers 4.04 Not Found; methods other than GET answer
// 4.05. Values change only on Tick (or periodically under Run), so tests
// are deterministic.
//
// Example config:
//
//	url: coap://127.0.0.1:5683
//	points:
//	  - {name: humidity, path: /sensors/humidity, unit: "%"}
//	  - {name: temperature, path: /sensors/env, format: json, field: temperature, unit: degC}
//	  - {name: co2, path: /sensors/env, format: json, field: co2, unit: ppm}
//	  - {name: fan, path: /sensors/env, format: json, field: fan}
//	  - {name: site, path: /sensors/env, format: json, field: site}
//	  - {name: door_open, path: /sensors/door, observe: true}
//	  - {name: temp, path: /senml/cbor, format: senml, senml_name: "urn:dev:ow:10e2073a01080063:temp"}
package coapsim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	coapdtls "github.com/plgd-dev/go-coap/v3/dtls"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/mux"
	coapnet "github.com/plgd-dev/go-coap/v3/net"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"

	"github.com/wotchain/wotchain/protocols"
)

// Sim is a running simulated device.
type Sim struct {
	log    *slog.Logger
	addr   string
	scheme string
	router *mux.Router
	stopFn func()        // stops the server and closes its listener
	served chan struct{} // closed when Serve returns
	stop   chan struct{} // closed by Close, ends Run
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
	err    error // Serve's result, read after served is closed

	senders sync.WaitGroup // observer goroutines

	mu        sync.Mutex
	step      int
	overrides map[string]representation
	requests  map[string]int
	nonReqs   map[string]int
	observers map[observerKey]*observer
	watched   map[mux.Conn]bool // connections with a close hook
	noObserve map[string]bool
	silent    map[string]bool
}

// Start listens on addr, which must be a 127.0.0.1 address ("localhost" is
// taken as 127.0.0.1); port 0 picks a free port, see Addr.
func Start(addr string, logger *slog.Logger, opts ...Option) (*Sim, error) {
	logger = protocols.Logger(logger)
	var set settings
	for _, o := range opts {
		o(&set)
	}
	listenAddr, err := loopbackAddr(addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sim{
		router:    mux.NewRouter(),
		served:    make(chan struct{}),
		stop:      make(chan struct{}),
		ctx:       ctx,
		cancel:    cancel,
		overrides: make(map[string]representation),
		requests:  make(map[string]int),
		nonReqs:   make(map[string]int),
		observers: make(map[observerKey]*observer),
		watched:   make(map[mux.Conn]bool),
		noObserve: make(map[string]bool),
		silent:    make(map[string]bool),
	}
	s.log = logger.With("component", "coapsim")
	s.router.SetErrorHandler(func(err error) { s.log.Debug("router error", "err", err) })
	s.router.Use(s.countRequests)
	for _, p := range demoPaths() {
		if err := s.router.Handle(p, mux.HandlerFunc(s.serve)); err != nil {
			cancel()
			return nil, fmt.Errorf("coapsim: route %s: %w", p, err)
		}
	}
	serve, err := s.listen(listenAddr, set)
	if err != nil {
		cancel()
		return nil, err
	}
	s.log = s.log.With("addr", s.addr)
	go func() {
		defer close(s.served)
		s.err = serve() // stopFn closes the listener
	}()
	s.log.Info("simulated CoAP device listening", "scheme", s.scheme)
	return s, nil
}

// listen opens the UDP or DTLS listener and returns the blocking serve call.
func (s *Sim) listen(addr string, set settings) (func() error, error) {
	errs := options.WithErrors(func(err error) { s.log.Debug("server error", "err", err) })
	if set.dtls == nil {
		l, err := coapnet.NewListenUDP("udp4", addr)
		if err != nil {
			return nil, fmt.Errorf("coapsim: listen on %s: %w", addr, err)
		}
		s.addr, s.scheme = l.LocalAddr().String(), "coap"
		srv := udp.NewServer(options.WithMux(s.router), errs)
		s.stopFn = srv.Stop
		return func() error { return srv.Serve(l) }, nil
	}
	l, err := coapnet.NewDTLSListener("udp4", addr, coapnet.NewDTLSServerOptions(set.dtls...))
	if err != nil {
		return nil, fmt.Errorf("coapsim: listen on %s: %w", addr, err)
	}
	s.addr, s.scheme = l.Addr().String(), "coaps"
	srv := coapdtls.NewServer(options.WithMux(s.router), errs)
	s.stopFn = srv.Stop
	return func() error { return srv.Serve(l) }, nil
}

// loopbackAddr keeps the simulator off real networks.
func loopbackAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("coapsim: address %q: %w", addr, err)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() == nil || !ip.IsLoopback() {
		return "", fmt.Errorf("coapsim: address %q: host must be 127.0.0.1", addr)
	}
	return net.JoinHostPort(host, port), nil
}

// Addr returns the host:port the simulator listens on.
func (s *Sim) Addr() string { return s.addr }

// URL returns the coap:// (or coaps:// for DTLS) URL for a device config.
func (s *Sim) URL() string { return s.scheme + "://" + s.addr }

// Close stops the server and its observers and waits for them. It is
// idempotent.
func (s *Sim) Close() error {
	s.once.Do(func() {
		close(s.stop)
		s.cancel() // ends pending notifications at once
		s.stopFn()
		<-s.served
		s.ForgetObservers()
		s.senders.Wait()
	})
	if s.err != nil && !errors.Is(s.err, net.ErrClosed) {
		return fmt.Errorf("coapsim %s: serve: %w", s.addr, s.err)
	}
	return nil
}

// Set overrides the payload of path, or adds path as a new resource, and
// notifies its observers. format "text" serves text/plain, "json"
// application/json, "cbor" application/cbor, "senml+json" and
// "senml+cbor" the SenML formats, anything else application/octet-stream.
// The override survives Tick.
func (s *Sim) Set(path string, format string, payload []byte) {
	mt := message.AppOctets
	switch format {
	case "text":
		mt = message.TextPlain
	case "json":
		mt = message.AppJSON
	case "cbor":
		mt = message.AppCBOR
	case "senml+json":
		mt = message.AppSenmlJSON
	case "senml+cbor":
		mt = message.AppSenmlCbor
	}
	if s.router.GetRoute(path) == nil {
		if err := s.router.Handle(path, mux.HandlerFunc(s.serve)); err != nil {
			s.log.Error("cannot add resource", "path", path, "err", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.overrides[path] = representation{format: mt, payload: bytes.Clone(payload)}
	s.notifyLocked(path)
}

// Requests returns how many requests have been received for path,
// including unknown paths, non-GET methods and Observe registrations.
func (s *Sim) Requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path]
}

// NonConfirmable returns how many of the requests for path were
// non-confirmable (NON).
func (s *Sim) NonConfirmable(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nonReqs[path]
}

// Silence makes path stop answering, as a hung sensor task does; the
// request is still counted.
func (s *Sim) Silence(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.silent[path] = true
}

// Tick advances the demo values one step and notifies observers of the
// built-in resources (overridden ones change only through Set).
func (s *Sim) Tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.step++
	for _, p := range demoPaths() {
		if _, ok := s.overrides[p]; !ok {
			s.notifyLocked(p)
		}
	}
}

// Run calls Tick every interval (1s if not positive) until ctx is done or
// the simulator is closed.
func (s *Sim) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Second
	}
	protocols.TickEvery(ctx, every, s.stop, s.Tick)
}

func (s *Sim) countRequests(next mux.Handler) mux.Handler {
	return mux.HandlerFunc(func(w mux.ResponseWriter, r *mux.Message) {
		path, err := r.Path()
		if err != nil && !errors.Is(err, message.ErrOptionNotFound) {
			path = "?"
		}
		if path == "" {
			path = "/"
		}
		s.mu.Lock()
		s.requests[path]++
		if r.Type() == message.NonConfirmable {
			s.nonReqs[path]++
		}
		silent := s.silent[path]
		s.mu.Unlock()
		s.log.Debug("request", "code", r.Code(), "type", r.Type(), "path", path, "from", w.Conn().RemoteAddr())
		if silent {
			return // no response: the client times out
		}
		next.ServeCOAP(w, r)
	})
}

func (s *Sim) serve(w mux.ResponseWriter, r *mux.Message) {
	if r.Code() != codes.GET {
		s.respond(w, codes.MethodNotAllowed, message.TextPlain, []byte("only GET is supported"))
		return
	}
	path, err := r.Path()
	if err != nil {
		s.respond(w, codes.BadRequest, message.TextPlain, []byte("bad path"))
		return
	}
	s.mu.Lock()
	rep, ok := s.representationLocked(path)
	observable := ok && !s.noObserve[path]
	s.mu.Unlock()
	if !ok {
		s.respond(w, codes.NotFound, message.TextPlain, nil)
		return
	}
	obs, obsErr := r.Observe()
	switch {
	case obsErr == nil && obs == 0 && observable:
		seq := s.register(w.Conn(), r.Token(), path)
		s.respond(w, codes.Content, rep.format, rep.payload)
		w.Message().SetObserve(seq)
		return
	case obsErr == nil && obs == 1:
		s.deregister(w.Conn(), r.Token())
	}
	s.respond(w, codes.Content, rep.format, rep.payload)
}

func (s *Sim) respond(w mux.ResponseWriter, code codes.Code, format message.MediaType, payload []byte) {
	if err := w.SetResponse(code, format, bytes.NewReader(payload)); err != nil {
		s.log.Warn("cannot set response", "err", err)
	}
}

// representationLocked returns the current state of path; s.mu must be held.
func (s *Sim) representationLocked(path string) (representation, bool) {
	if rep, ok := s.overrides[path]; ok {
		return rep, true
	}
	return demo(path, s.step)
}
