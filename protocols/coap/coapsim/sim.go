// Package coapsim is an in-process CoAP device for tests and demos. It
// serves a few sensor resources over UDP on the loopback interface only.
//
// Demo resources (write a device config against these):
//
//	path               content format     value
//	/sensors/humidity  text/plain         float, e.g. "45.0" (44.2..45.8, always one decimal)
//	/sensors/env       application/json   {"temperature": 22.5, "co2": 415, "fan": true, "site": "line-1"}
//	                                      temperature: float, one decimal (21.5..23.5)
//	                                      co2: integer (405..425); fan: bool; site: string
//	/sensors/door      text/plain         bool, "false"/"true" toggling every Tick
//
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
//	  - {name: door_open, path: /sensors/door}
package coapsim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/mux"
	coapnet "github.com/plgd-dev/go-coap/v3/net"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
	"github.com/plgd-dev/go-coap/v3/udp/server"
)

// Demo resource paths.
const (
	PathHumidity = "/sensors/humidity"
	PathEnv      = "/sensors/env"
	PathDoor     = "/sensors/door"
)

// Sim is a running simulated device.
type Sim struct {
	log    *slog.Logger
	addr   string
	router *mux.Router
	srv    *server.Server
	served chan struct{} // closed when Serve returns
	stop   chan struct{} // closed by Close, ends Run
	once   sync.Once
	err    error // Serve's result, read after served is closed

	mu        sync.Mutex
	step      int
	overrides map[string]representation
	requests  map[string]int
}

type representation struct {
	format  message.MediaType
	payload []byte
}

// Start listens on addr, which must be a 127.0.0.1 address ("localhost" is
// taken as 127.0.0.1); port 0 picks a free port, see Addr.
func Start(addr string, logger *slog.Logger) (*Sim, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	listenAddr, err := loopbackAddr(addr)
	if err != nil {
		return nil, err
	}
	l, err := coapnet.NewListenUDP("udp4", listenAddr)
	if err != nil {
		return nil, fmt.Errorf("coapsim: listen on %s: %w", listenAddr, err)
	}
	s := &Sim{
		log:       logger.With("component", "coapsim"),
		addr:      l.LocalAddr().String(),
		router:    mux.NewRouter(),
		served:    make(chan struct{}),
		stop:      make(chan struct{}),
		overrides: make(map[string]representation),
		requests:  make(map[string]int),
	}
	s.log = s.log.With("addr", s.addr)
	s.router.SetErrorHandler(func(err error) { s.log.Debug("router error", "err", err) })
	s.router.Use(s.countRequests)
	for _, p := range []string{PathHumidity, PathEnv, PathDoor} {
		if err := s.router.Handle(p, mux.HandlerFunc(s.serve)); err != nil {
			_ = l.Close()
			return nil, fmt.Errorf("coapsim: route %s: %w", p, err)
		}
	}
	s.srv = udp.NewServer(
		options.WithMux(s.router),
		options.WithErrors(func(err error) { s.log.Debug("server error", "err", err) }),
	)
	go func() {
		defer close(s.served)
		s.err = s.srv.Serve(l) // Stop closes l
	}()
	s.log.Info("simulated CoAP device listening")
	return s, nil
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

// URL returns the coap:// URL for a device config.
func (s *Sim) URL() string { return "coap://" + s.addr }

// Close stops the server and waits for it to finish. It is idempotent.
func (s *Sim) Close() error {
	s.once.Do(func() {
		close(s.stop)
		s.srv.Stop()
		<-s.served
	})
	if s.err != nil {
		return fmt.Errorf("coapsim %s: serve: %w", s.addr, s.err)
	}
	return nil
}

// Set overrides the payload of path, or adds path as a new resource.
// format "text" serves text/plain, "json" application/json, anything else
// application/octet-stream. The override survives Tick.
func (s *Sim) Set(path string, format string, payload []byte) {
	mt := message.AppOctets
	switch format {
	case "text":
		mt = message.TextPlain
	case "json":
		mt = message.AppJSON
	}
	s.mu.Lock()
	s.overrides[path] = representation{format: mt, payload: bytes.Clone(payload)}
	s.mu.Unlock()
	if s.router.GetRoute(path) == nil {
		if err := s.router.Handle(path, mux.HandlerFunc(s.serve)); err != nil {
			s.log.Error("cannot add resource", "path", path, "err", err)
		}
	}
}

// Requests returns how many requests have been received for path,
// including unknown paths and non-GET methods.
func (s *Sim) Requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path]
}

// Tick advances the demo values one step.
func (s *Sim) Tick() {
	s.mu.Lock()
	s.step++
	s.mu.Unlock()
}

// Run calls Tick every interval (1s if not positive) until ctx is done or
// the simulator is closed.
func (s *Sim) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.stop:
			return
		case <-t.C:
			s.Tick()
		}
	}
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
		s.mu.Unlock()
		s.log.Debug("request", "code", r.Code(), "path", path, "from", w.Conn().RemoteAddr())
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
	rep, ok := s.representation(path)
	if !ok {
		s.respond(w, codes.NotFound, message.TextPlain, nil)
		return
	}
	s.respond(w, codes.Content, rep.format, rep.payload)
}

func (s *Sim) respond(w mux.ResponseWriter, code codes.Code, format message.MediaType, payload []byte) {
	if err := w.SetResponse(code, format, bytes.NewReader(payload)); err != nil {
		s.log.Warn("cannot set response", "err", err)
	}
}

// representation returns the current state of path.
func (s *Sim) representation(path string) (representation, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rep, ok := s.overrides[path]; ok {
		return rep, true
	}
	return demo(path, s.step)
}

// triangle is a deterministic wave over -2..2 with period 8:
// 0 1 2 1 0 -1 -2 -1.
func triangle(step int) int {
	switch p := step % 8; {
	case p <= 2:
		return p
	case p <= 6:
		return 4 - p
	default:
		return p - 8
	}
}

// demo renders the built-in resources at a step. Numbers are formatted by
// hand with a fixed decimal: encoding/json would write 23.0 as "23", and a
// float point would then decode as an integer.
func demo(path string, step int) (representation, bool) {
	w := triangle(step)
	switch path {
	case PathHumidity:
		v := 45.0 + 0.4*float64(w)
		return representation{message.TextPlain, []byte(strconv.FormatFloat(v, 'f', 1, 64))}, true
	case PathEnv:
		temp := 22.5 + 0.5*float64(w)
		co2 := 415 + 5*w
		body := fmt.Sprintf(`{"temperature": %s, "co2": %d, "fan": true, "site": "line-1"}`,
			strconv.FormatFloat(temp, 'f', 1, 64), co2)
		return representation{message.AppJSON, []byte(body)}, true
	case PathDoor:
		return representation{message.TextPlain, []byte(strconv.FormatBool(step%2 == 1))}, true
	}
	return representation{}, false
}
