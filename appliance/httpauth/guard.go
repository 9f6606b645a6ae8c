package httpauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Rule is what one route needs.
type Rule struct {
	Need  Role // Public, Viewer or Admin
	Audit bool // log each access with its user
}

// Config configures a Guard.
type Config struct {
	// Users are the accounts; nil turns authentication off (loopback
	// only, enforced by the configuration): every route is open.
	Users *Users
	// Audit receives logins and audited accesses; nil logs nothing.
	Audit *Audit
	// SessionTTL is how long a login lasts; 8h when zero.
	SessionTTL time.Duration
	// Logger receives failures to write the audit log.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Guard enforces a route table: every request is matched to its route's
// pattern and served only if its credentials (an API token or a session
// cookie) carry the role the route needs. Unknown routes need admin.
// Cross-origin state changes are refused by net/http's
// CrossOriginProtection, which covers login and logout (the only state
// changes).
type Guard struct {
	cfg      Config
	rules    map[string]Rule
	route    func(*http.Request) string
	sessions *sessions
	limiter  *loginLimiter
	csrf     *http.CrossOriginProtection
}

// SessionCookie is the name of the session cookie.
const SessionCookie = "wotchain_session"

// New returns a guard for rules, keyed by the ServeMux patterns that route
// returns for a request (ServeMux.Handler's pattern). A route missing from
// rules, or with a Need that is not a role, needs admin.
func New(cfg Config, rules map[string]Rule, route func(*http.Request) string) *Guard {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 8 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Guard{cfg: cfg, rules: rules, route: route, sessions: newSessions(cfg.SessionTTL, cfg.Now),
		limiter: newLoginLimiter(cfg.Now), csrf: http.NewCrossOriginProtection()}
}

// Enabled says whether credentials are checked.
func (g *Guard) Enabled() bool { return g.cfg.Users != nil }

type ctxKey struct{}

// Identity is who made a request and how.
type Identity struct {
	User User
	Via  string // session or token
	// Expires is the session's end (zero for a token): a request that
	// outlives it, such as an event stream, is cancelled then.
	Expires time.Time
}

// From returns the request's identity, if it was authenticated.
func From(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}

// Wrap guards next.
func (g *Guard) Wrap(next http.Handler) http.Handler {
	return g.csrf.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rule, ok := g.rules[g.route(r)]
		if !ok || (rule.Need != Public && rule.Need != Viewer) {
			rule.Need = Admin
		}
		if !g.Enabled() || rule.Need == Public {
			next.ServeHTTP(w, r)
			return
		}
		id, err := g.identify(r)
		switch {
		case err != nil:
			g.cfg.Logger.Error("users file unusable; refusing every login", "err", err)
			writeError(w, http.StatusServiceUnavailable, "the users file cannot be read; see the appliance's log")
			return
		case id == nil:
			g.unauthenticated(w, r)
			return
		case !id.User.Role.allows(rule.Need):
			g.audit(r, Event{Event: "denied", User: id.User.Name, Status: http.StatusForbidden, Via: id.Via})
			writeError(w, http.StatusForbidden, fmt.Sprintf("user %s (%s) may not read this; it needs %s", id.User.Name, id.User.Role, rule.Need))
			return
		}
		ctx := context.WithValue(r.Context(), ctxKey{}, *id)
		if !id.Expires.IsZero() {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, id.Expires)
			defer cancel()
		}
		r = r.WithContext(ctx)
		if !rule.Audit {
			next.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		g.audit(r, Event{Event: "access", User: id.User.Name, Status: rec.status, Via: id.Via})
	}))
}

// identify finds the request's user from a bearer token or, without one,
// the session cookie. A token that is given but wrong is not retried as a
// cookie.
func (g *Guard) identify(r *http.Request) (*Identity, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return nil, nil
		}
		u, ok, err := g.cfg.Users.Token(strings.TrimSpace(tok))
		if err != nil || !ok {
			return nil, err
		}
		return &Identity{User: u, Via: "token"}, nil
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil, nil
	}
	name, exp, ok := g.sessions.user(c.Value)
	if !ok {
		return nil, nil
	}
	// The role is the file's now: a removed user's sessions end with it.
	u, ok, err := g.cfg.Users.lookup(name)
	if err != nil || !ok {
		return nil, err
	}
	return &Identity{User: u, Via: "session", Expires: exp}, nil
}

// unauthenticated sends a browser asking for a page to the login form and
// anything else a 401.
func (g *Guard) unauthenticated(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/html") {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="wotchain"`)
	writeError(w, http.StatusUnauthorized, "authentication required: log in or send Authorization: Bearer <token>")
}

func (g *Guard) audit(r *http.Request, e Event) {
	if g.cfg.Audit == nil {
		return
	}
	e.Time = g.cfg.Now().UTC()
	e.Addr = clientAddr(r)
	e.Method = r.Method
	e.Path = r.URL.RequestURI()
	if err := g.cfg.Audit.Log(e); err != nil {
		g.cfg.Logger.Error("audit log not written", "err", err)
	}
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// loginRequest is the JSON form of a login.
type loginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// Login handles POST /login, from the form (then it redirects to the page)
// or as JSON (then it answers the session's user, role and expiry).
func (g *Guard) Login() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.Enabled() {
			writeError(w, http.StatusNotFound, "authentication is off (no http.auth in the configuration)")
			return
		}
		isJSON := strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
		req, err := readLogin(w, r, isJSON)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if !g.limiter.allow("addr:"+clientAddr(r), "user:"+req.User) {
			g.audit(r, Event{Event: "login_limited", User: req.User, Status: http.StatusTooManyRequests})
			w.Header().Set("Retry-After", strconv.Itoa(int(loginEvery/time.Second)))
			g.loginFailed(w, isJSON, http.StatusTooManyRequests, "too many login attempts; wait a minute")
			return
		}
		u, ok, err := g.cfg.Users.Password(req.User, req.Password)
		if err != nil {
			g.cfg.Logger.Error("users file unusable; refusing every login", "err", err)
			g.loginFailed(w, isJSON, http.StatusServiceUnavailable, "the users file cannot be read; see the appliance's log")
			return
		}
		if !ok {
			g.audit(r, Event{Event: "login_failed", User: req.User, Status: http.StatusUnauthorized})
			g.loginFailed(w, isJSON, http.StatusUnauthorized, "wrong user name or password")
			return
		}
		g.startSession(w, r, u, isJSON)
	})
}

func readLogin(w http.ResponseWriter, r *http.Request, isJSON bool) (loginRequest, error) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	var req loginRequest
	if isJSON {
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			return req, fmt.Errorf("login: %w", err)
		}
	} else {
		if err := r.ParseForm(); err != nil {
			return req, fmt.Errorf("login: %w", err)
		}
		req = loginRequest{User: r.PostForm.Get("user"), Password: r.PostForm.Get("password")}
	}
	if req.User == "" || req.Password == "" {
		return req, errors.New("login: user and password are required")
	}
	if ValidName(req.User) != nil {
		req.User = "?" // keeps the audit log and the limiter's table clean
	}
	return req, nil
}

func (g *Guard) startSession(w http.ResponseWriter, r *http.Request, u User, isJSON bool) {
	id, exp, err := g.sessions.create(u.Name)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", Expires: exp,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	g.audit(r, Event{Event: "login", User: u.Name, Status: http.StatusOK, Via: "session"})
	if !isJSON {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"user": u.Name, "role": u.Role, "expires": exp.UTC()})
}

func (g *Guard) loginFailed(w http.ResponseWriter, isJSON bool, code int, msg string) {
	if isJSON {
		writeError(w, code, msg)
		return
	}
	renderLogin(w, code, msg)
}

// Logout handles POST /logout: the session ends on the server.
func (g *Guard) Logout() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(SessionCookie); err == nil {
			if name, _, ok := g.sessions.user(c.Value); ok {
				g.audit(r, Event{Event: "logout", User: name, Via: "session"})
			}
			g.sessions.end(c.Value)
		}
		http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
			Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
		http.Redirect(w, r, "/login", http.StatusSeeOther)
	})
}

// LoginPage handles GET /login.
func (g *Guard) LoginPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.Enabled() {
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		renderLogin(w, http.StatusOK, "")
	})
}

// AuditLog handles GET /api/audit: the last events (?limit=N, default 100,
// at most 10000), oldest first.
func (g *Guard) AuditLog() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.cfg.Audit == nil {
			writeError(w, http.StatusNotFound, "no audit log: authentication is off")
			return
		}
		limit := 100
		if s := r.URL.Query().Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 10000 {
				writeError(w, http.StatusBadRequest, `parameter "limit": want 1 to 10000`)
				return
			}
			limit = n
		}
		events, err := g.cfg.Audit.Tail(limit)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]any{"events": events})
	})
}

var loginTmpl = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>WoTChain: log in</title><link rel="stylesheet" href="style.css"></head>
<body><main class="login"><h1>WoTChain</h1>
{{if .}}<p class="error" role="alert">{{.}}</p>{{end}}
<form method="post" action="login">
<label>User <input name="user" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Log in</button>
</form></main></body></html>
`))

func renderLogin(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = loginTmpl.Execute(w, msg)
}
