// Package httpapi is the appliance's local HTTP interface: liveness and
// readiness probes, Prometheus metrics, a JSON API over devices, readings
// and blocks (including a self-contained proof that one reading is in a
// signed block), server-sent status events, and an embedded status page.
//
// Access is decided at one place, the route table in routes: with
// authentication on (Options.Auth.Users), each route needs a role, and
// raw readings, proofs and the audit log need admin (proof bundles carry
// decrypted readings). Without it the configuration keeps the interface
// on loopback.
package httpapi

import (
	"context"
	"crypto/hpke"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wotchain/wotchain/appliance/httpauth"
	"github.com/wotchain/wotchain/bridge/store"
)

// DefaultAddr is where Serve listens when given no address.
const DefaultAddr = "127.0.0.1:8080"

// Options are what the server serves. Store is required for everything but
// /healthz; the rest is optional and degrades as documented per field.
type Options struct {
	// ApplianceID is shown on the status page.
	ApplianceID string
	// Store is the appliance's open store. It must stay open until Serve
	// has returned (and, with Handler, until the last request finished).
	Store *store.Store
	// Devices reports the configured devices; without it none are shown and
	// /readyz reports not ready.
	Devices Devices
	// Pipeline reports storage and ledger error counts (zero without it).
	Pipeline Pipeline
	// BlockFormat is the block format the appliance writes, a label of
	// wotchain_build_info ("unknown" when zero).
	BlockFormat int
	// Ready, if set, is an extra readiness check (for example: the ledger
	// registration and storage are known); a non-nil error is the reason
	// for not being ready.
	Ready func(ctx context.Context) error
	// OwnerKey decrypts block objects for proof bundles; without it the
	// proof endpoint answers 503.
	OwnerKey hpke.PrivateKey
	// Credentials resolves a block id to its height through the ledger.
	// Without it, looking up an anchored block by id scans the store.
	Credentials Credentials
	// Objects fetches a block object from storage when the store no longer
	// holds it.
	Objects Objects
	// Logger receives request errors; slog.Default() when nil.
	Logger *slog.Logger
	// EventInterval is the period of status events; one second when zero.
	EventInterval time.Duration
	// MaxEventClients bounds concurrent /events streams; 16 when zero.
	MaxEventClients int
	// Auth configures authentication; with Auth.Users nil every route is
	// open (the configuration allows that on loopback only).
	Auth httpauth.Config
	// TLS, if set, serves HTTPS.
	TLS *tls.Config
}

// Server serves the HTTP interface. Create it with New.
type Server struct {
	opts     Options
	log      *slog.Logger
	registry *prometheus.Registry
	pollDur  *prometheus.HistogramVec
	handler  http.Handler
	guard    *httpauth.Guard
	events   chan struct{} // a slot per allowed /events stream
	blocks   *blockCache

	mu      sync.Mutex
	changed chan struct{} // closed and replaced by Notify
}

// New returns a server for opts.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Auth.Logger == nil {
		opts.Auth.Logger = opts.Logger
	}
	if opts.EventInterval <= 0 {
		opts.EventInterval = time.Second
	}
	if opts.MaxEventClients <= 0 {
		opts.MaxEventClients = 16
	}
	s := &Server{
		opts:    opts,
		log:     opts.Logger,
		events:  make(chan struct{}, opts.MaxEventClients),
		blocks:  newBlockCache(4),
		changed: make(chan struct{}),
	}
	s.initMetrics()
	s.handler = s.routes()
	return s
}

// route is one entry of the route table: its pattern, who may use it and
// whether each use is audited.
type route struct {
	pattern string
	rule    httpauth.Rule
	handler http.Handler
}

// The three kinds of route: open, for viewers, and for admins (audited).
var (
	ruleOpen   = httpauth.Rule{Need: httpauth.Public}
	ruleViewer = httpauth.Rule{Need: httpauth.Viewer}
	ruleAdmin  = httpauth.Rule{Need: httpauth.Admin, Audit: true}
)

// table is every route and its access: probes and login are open, status
// and values are for viewers, raw readings, proofs and the audit log for
// admins (and audited). The guard enforces it for all routes at once.
func (s *Server) table() []route {
	page := s.pageHandler()
	return []route{
		{"GET /healthz", ruleOpen, http.HandlerFunc(s.handleHealthz)},
		{"GET /readyz", ruleOpen, http.HandlerFunc(s.handleReadyz)},
		{"GET /login", ruleOpen, s.guard.LoginPage()},
		{"POST /login", ruleOpen, s.guard.Login()},
		{"POST /logout", ruleOpen, s.guard.Logout()},
		{"GET /style.css", ruleOpen, page},            // the login page's too
		{"GET /verify", ruleOpen, s.verifyPage(page)}, // holds no data: partners check bundles offline
		{"GET /verify/", ruleOpen, s.verifyPage(page)},
		{"GET /metrics", ruleViewer, s.metricsHandler()},
		{"GET /api/status", ruleViewer, http.HandlerFunc(s.handleStatus)},
		{"GET /api/devices", ruleViewer, http.HandlerFunc(s.handleDevices)},
		{"GET /api/aggregates", ruleViewer, http.HandlerFunc(s.handleAggregates)},
		{"GET /api/blocks", ruleViewer, http.HandlerFunc(s.handleBlocks)},
		{"GET /api/blocks/{id}", ruleViewer, http.HandlerFunc(s.handleBlock)},
		{"GET /api/series", ruleViewer, http.HandlerFunc(s.handleSeries)},
		{"GET /events", ruleViewer, http.HandlerFunc(s.handleEvents)},
		{"GET /", ruleViewer, page},
		{"GET /api/readings", ruleAdmin, http.HandlerFunc(s.handleReadings)},
		{"GET /api/blocks/{id}/proof", ruleAdmin, http.HandlerFunc(s.handleProof)},
		{"GET /api/blocks/{id}/verify", ruleAdmin, http.HandlerFunc(s.handleBlockVerify)},
		{"GET /api/audit", ruleAdmin, s.guard.AuditLog()},
	}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	rules := map[string]httpauth.Rule{}
	s.guard = httpauth.New(s.opts.Auth, rules, func(r *http.Request) string {
		_, pattern := mux.Handler(r)
		return pattern
	})
	for _, rt := range s.table() {
		mux.Handle(rt.pattern, rt.handler)
		rules[rt.pattern] = rt.rule
	}
	return securityHeaders(s.guard.Wrap(mux))
}

// securityHeaders keeps the page to its own origin: it loads nothing from
// elsewhere, so anything injected could not either.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// Handler returns the HTTP handler, for tests or for mounting elsewhere.
func (s *Server) Handler() http.Handler { return s.handler }

// Notify pushes a status event to every /events stream now, for example
// when a block was anchored, instead of at the next tick.
func (s *Server) Notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) changedCh() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Serve listens on addr (DefaultAddr when empty) and serves until ctx ends.
func (s *Server) Serve(ctx context.Context, addr string) error {
	if addr == "" {
		addr = DefaultAddr
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("http: listen on %s: %w", addr, err)
	}
	return s.ServeListener(ctx, ln)
}

// ServeListener serves on ln until ctx ends, then shuts down: open event
// streams end at once, other requests get a few seconds to finish. It
// closes ln and returns nil after a clean shutdown.
func (s *Server) ServeListener(ctx context.Context, ln net.Listener) error {
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() && (!s.guard.Enabled() || s.opts.TLS == nil) {
		s.log.Warn("the HTTP interface listens beyond loopback without TLS and authentication",
			"addr", ln.Addr().String(), "tls", s.opts.TLS != nil, "auth", s.guard.Enabled())
	}
	scheme := "http"
	if s.opts.TLS != nil {
		ln = tls.NewListener(ln, s.opts.TLS)
		scheme = "https"
	}
	// Request contexts derive from baseCtx, so event streams end when
	// serving stops rather than holding Shutdown up.
	baseCtx, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      time.Minute, // lifted for event streams
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("http interface listening", "addr", ln.Addr().String(), "url", scheme+"://"+ln.Addr().String()+"/", "auth", s.guard.Enabled())
	select {
	case err := <-errc:
		return fmt.Errorf("http: serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	cancelBase()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
		return fmt.Errorf("http: shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http: serve on %s: %w", ln.Addr(), err)
	}
	return nil
}

func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintln(w, "ok")
}

type readyJSON struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if err := s.ready(r.Context()); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, readyJSON{Status: "not ready", Reason: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, readyJSON{Status: "ready"})
}

func (s *Server) ready(ctx context.Context) error {
	if s.opts.Store == nil {
		return errors.New("store is not open")
	}
	if _, err := s.opts.Store.NextSeq(); err != nil {
		return fmt.Errorf("store is not readable: %w", err)
	}
	if s.opts.Devices == nil || len(s.opts.Devices.Devices()) == 0 {
		return errors.New("no devices configured")
	}
	if s.opts.Ready != nil {
		if err := s.opts.Ready(ctx); err != nil {
			return err
		}
	}
	return nil
}

// apiError is every JSON error body; Parameter names the offending query
// parameter of a 400.
type apiError struct {
	Error     string `json:"error"`
	Parameter string `json:"parameter,omitempty"`
}

// paramError is a bad request parameter.
type paramError struct {
	name string
	msg  string
}

func (e *paramError) Error() string { return fmt.Sprintf("parameter %q: %s", e.name, e.msg) }

func badParam(name, format string, args ...any) error {
	return &paramError{name: name, msg: fmt.Sprintf(format, args...)}
}

// httpError carries a status code other than 500 for a failure.
type httpError struct {
	code int
	err  error
}

func (e *httpError) Error() string { return e.err.Error() }
func (e *httpError) Unwrap() error { return e.err }

func withStatus(code int, err error) error { return &httpError{code: code, err: err} }

// writeError answers err as JSON: a parameter error is a 400 naming the
// parameter, an error with a status keeps it, anything else is a 500 that
// is also logged.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var pe *paramError
	var he *httpError
	switch {
	case errors.As(err, &pe):
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error(), Parameter: pe.name})
	case errors.As(err, &he):
		writeJSON(w, he.code, apiError{Error: err.Error()})
	default:
		s.log.Error("http request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeJSON(w, http.StatusInternalServerError, apiError{Error: err.Error()})
	}
}

// writeJSON encodes before writing, so a value that cannot be encoded is a
// 500 rather than a truncated 200.
func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		code = http.StatusInternalServerError
		body, _ = json.Marshal(apiError{Error: fmt.Sprintf("encode response: %v", err)})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	// The status line is out; a failed write means the client went away.
	_, _ = w.Write(append(body, '\n'))
}

func (s *Server) needStore() error {
	if s.opts.Store == nil {
		return withStatus(http.StatusServiceUnavailable, errors.New("store is not open"))
	}
	return nil
}
