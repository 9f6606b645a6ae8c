package httpapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wotchain/wotchain/appliance/httpauth"
)

// authEnv is the API over TLS with authentication on: an admin and a
// viewer with passwords, and a token-only viewer (Prometheus).
type authEnv struct {
	*env
	ts    *httptest.Server
	token string // prometheus's
	audit string
	mu    sync.Mutex
	now   time.Time
}

const sessionTTL = time.Hour

func newAuthEnv(t *testing.T) *authEnv {
	t.Helper()
	dir := t.TempDir()
	usersFile := filepath.Join(dir, "users")
	tok, tokHash, err := httpauth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	var users []httpauth.User
	for _, u := range []struct {
		name string
		role httpauth.Role
	}{{"olga", httpauth.Admin}, {"victor", httpauth.Viewer}} {
		h, err := httpauth.HashPassword(u.name + "-password")
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, httpauth.User{Name: u.name, Role: u.role, PasswordHash: h})
	}
	users = append(users, httpauth.User{Name: "prometheus", Role: httpauth.Viewer, TokenHashes: []string{tokHash}})
	if err := httpauth.WriteUsers(usersFile, users); err != nil {
		t.Fatal(err)
	}
	store, err := httpauth.OpenUsers(usersFile)
	if err != nil {
		t.Fatal(err)
	}
	a := &authEnv{token: tok, audit: filepath.Join(dir, "audit.jsonl"), now: time.Now()}
	audit, err := httpauth.OpenAudit(a.audit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { audit.Close() })
	a.env = newEnv(t, func(o *Options) {
		o.Auth = httpauth.Config{Users: store, Audit: audit, SessionTTL: sessionTTL, Now: a.clock}
	})
	a.ts = httptest.NewUnstartedServer(a.srv.Handler())
	a.ts.StartTLS()
	t.Cleanup(a.ts.Close)
	return a
}

func (a *authEnv) clock() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.now
}

func (a *authEnv) advance(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.now = a.now.Add(d)
}

// client is a browser-like client over TLS with its own cookie jar; it
// does not follow redirects, so they can be checked.
func (a *authEnv) client(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := *a.ts.Client() // a copy: the server's client is shared
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func (a *authEnv) do(t *testing.T, c *http.Client, method, path string, body io.Reader, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, a.ts.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// login logs in as user with the JSON form and returns the status.
func (a *authEnv) login(t *testing.T, c *http.Client, user, password string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"user": user, "password": password})
	code, _ := a.do(t, c, http.MethodPost, "/login", strings.NewReader(string(body)), map[string]string{"Content-Type": "application/json"})
	return code
}

// loggedIn is a client with a session of user.
func (a *authEnv) loggedIn(t *testing.T, user string) *http.Client {
	t.Helper()
	c := a.client(t)
	if code := a.login(t, c, user, user+"-password"); code != http.StatusOK {
		t.Fatalf("login %s: %d", user, code)
	}
	return c
}

func (a *authEnv) readingsPath() string { return "/api/readings?device=boiler-1&point=p0" }

func (a *authEnv) proofPath(t *testing.T) string {
	rec := a.c.Block(t, 1)
	return fmt.Sprintf("/api/blocks/%s/proof?seq=%d", rec.BlockID, rec.FirstSeq)
}

// Without credentials only the probes and the login page answer; the API
// is 401 and a browser is sent to the login form.
func TestAuthWithoutCredentials(t *testing.T) {
	a := newAuthEnv(t)
	c := a.client(t)
	for _, p := range []string{a.readingsPath(), a.proofPath(t), "/api/status", "/api/devices", "/api/blocks", "/api/audit", "/metrics", "/events", "/app.js", "/api/nope"} {
		if code, body := a.do(t, c, http.MethodGet, p, nil, nil); code != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials: %d %s", p, code, body)
		}
	}
	for _, p := range []string{"/healthz", "/readyz", "/login", "/style.css"} {
		if code, body := a.do(t, c, http.MethodGet, p, nil, nil); code == http.StatusUnauthorized || code == http.StatusForbidden {
			t.Errorf("GET %s is not open: %d %s", p, code, body)
		}
	}
	code, _ := a.do(t, c, http.MethodGet, "/", nil, map[string]string{"Accept": "text/html"})
	if code != http.StatusSeeOther {
		t.Errorf("a browser's GET / without a session: %d, want a redirect to /login", code)
	}
	if code, _ := a.do(t, c, http.MethodGet, a.readingsPath(), nil, map[string]string{"Authorization": "Bearer wct_wrong"}); code != http.StatusUnauthorized {
		t.Errorf("a wrong token: %d", code)
	}
	if code, _ := a.do(t, c, http.MethodGet, "/api/status", nil, map[string]string{"Authorization": "Basic b2xnYTpvbGdhLXBhc3N3b3Jk"}); code != http.StatusUnauthorized {
		t.Errorf("basic auth: %d", code)
	}
}

// A viewer reads status and values, not raw readings, proofs or the audit
// log; an admin reads everything, and the admin's reads are audited.
func TestAuthRoles(t *testing.T) {
	a := newAuthEnv(t)
	viewer, admin := a.loggedIn(t, "victor"), a.loggedIn(t, "olga")
	viewerOK := []string{"/api/status", "/api/devices", "/api/blocks", "/api/blocks/1", "/api/aggregates?device=boiler-1&point=p0&window=1m", "/metrics", "/", "/app.js"}
	adminOnly := []string{a.readingsPath(), a.proofPath(t), "/api/audit"}
	for _, p := range viewerOK {
		if code, body := a.do(t, viewer, http.MethodGet, p, nil, nil); code == http.StatusUnauthorized || code == http.StatusForbidden {
			t.Errorf("viewer GET %s: %d %s", p, code, body)
		}
	}
	for _, p := range adminOnly {
		if code, body := a.do(t, viewer, http.MethodGet, p, nil, nil); code != http.StatusForbidden {
			t.Errorf("viewer GET %s: %d %s, want 403", p, code, body)
		}
	}
	for _, p := range append(viewerOK, adminOnly...) {
		if code, body := a.do(t, admin, http.MethodGet, p, nil, nil); code == http.StatusUnauthorized || code == http.StatusForbidden {
			t.Errorf("admin GET %s: %d %s", p, code, body)
		}
	}
	if code, body := a.do(t, viewer, http.MethodGet, "/api/status", nil, nil); code != http.StatusOK || !strings.Contains(body, `"user": "victor"`) {
		t.Errorf("viewer's status does not name the user (the page's log-out button): %d %s", code, body)
	}
	code, body := a.do(t, admin, http.MethodGet, a.readingsPath(), nil, nil)
	if code != http.StatusOK || !strings.Contains(body, `"readings"`) {
		t.Fatalf("admin readings: %d %s", code, body)
	}
	code, body = a.do(t, admin, http.MethodGet, "/api/audit?limit=1000", nil, nil)
	if code != http.StatusOK {
		t.Fatalf("audit: %d %s", code, body)
	}
	for _, want := range []string{`"event":"login","user":"victor"`, `"event":"login","user":"olga"`,
		`"event":"denied","user":"victor","addr":"127.0.0.1","method":"GET","path":"/api/readings?device=boiler-1\u0026point=p0","status":403`,
		`"event":"access","user":"olga","addr":"127.0.0.1","method":"GET","path":"/api/readings?device=boiler-1\u0026point=p0","status":200,"via":"session"`,
		`"event":"access","user":"olga","addr":"127.0.0.1","method":"GET","path":"/api/blocks/`} {
		if !strings.Contains(body, want) {
			t.Errorf("audit log lacks %s:\n%s", want, body)
		}
	}
}

// API tokens work as bearer credentials with their user's role; a wrong
// one does not.
func TestAuthTokens(t *testing.T) {
	a := newAuthEnv(t)
	c := a.client(t)
	bearer := map[string]string{"Authorization": "Bearer " + a.token}
	code, body := a.do(t, c, http.MethodGet, "/metrics", nil, bearer)
	if code != http.StatusOK || !strings.Contains(body, "wotchain_") {
		t.Fatalf("metrics with the token: %d", code)
	}
	if code, _ := a.do(t, c, http.MethodGet, "/api/status", nil, bearer); code != http.StatusOK {
		t.Fatalf("status with the token: %d", code)
	}
	if code, _ := a.do(t, c, http.MethodGet, a.readingsPath(), nil, bearer); code != http.StatusForbidden {
		t.Fatalf("a viewer's token reads readings: %d", code)
	}
	wrong := a.token[:len(a.token)-1] + string("AB"[boolIdx(a.token[len(a.token)-1] == 'A')])
	if code, _ := a.do(t, c, http.MethodGet, "/metrics", nil, map[string]string{"Authorization": "Bearer " + wrong}); code != http.StatusUnauthorized {
		t.Fatalf("a wrong token: %d", code)
	}
}

func boolIdx(b bool) int {
	if b {
		return 1
	}
	return 0
}

// A state change from another origin is refused (login and logout are the
// state changes); the same origin and non-browser clients pass.
func TestAuthCSRF(t *testing.T) {
	a := newAuthEnv(t)
	c := a.loggedIn(t, "victor")
	form := func() io.Reader { return strings.NewReader("user=victor&password=victor-password") }
	ct := "application/x-www-form-urlencoded"
	for _, h := range []map[string]string{
		{"Content-Type": ct, "Sec-Fetch-Site": "cross-site"},
		{"Content-Type": ct, "Sec-Fetch-Site": "same-site"},
		{"Content-Type": ct, "Origin": "https://evil.example"},
	} {
		if code, body := a.do(t, c, http.MethodPost, "/logout", nil, h); code != http.StatusForbidden {
			t.Errorf("cross-origin logout %v: %d %s", h, code, body)
		}
		if code, body := a.do(t, a.client(t), http.MethodPost, "/login", form(), h); code != http.StatusForbidden {
			t.Errorf("cross-origin login %v: %d %s", h, code, body)
		}
	}
	if code, _ := a.do(t, c, http.MethodGet, "/api/status", nil, nil); code != http.StatusOK {
		t.Fatalf("the session did not survive the refused logouts: %d", code)
	}
	same := map[string]string{"Content-Type": ct, "Sec-Fetch-Site": "same-origin", "Origin": a.ts.URL}
	code, _ := a.do(t, a.client(t), http.MethodPost, "/login", form(), same)
	if code != http.StatusSeeOther {
		t.Fatalf("same-origin form login: %d", code)
	}
	if code, _ := a.do(t, c, http.MethodPost, "/logout", nil, same); code != http.StatusSeeOther {
		t.Fatalf("same-origin logout: %d", code)
	}
	if code, _ := a.do(t, c, http.MethodGet, "/api/status", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("after logout: %d", code)
	}
}

// After a burst of attempts, logins from one address are refused with 429,
// even with the right password, and the refusals are audited.
func TestAuthLoginRateLimit(t *testing.T) {
	a := newAuthEnv(t)
	c := a.client(t)
	for i := range 5 {
		if code := a.login(t, c, "olga", "guess-"+fmt.Sprint(i)); code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, code)
		}
	}
	if code := a.login(t, c, "olga", "olga-password"); code != http.StatusTooManyRequests {
		t.Fatalf("sixth attempt: %d, want 429", code)
	}
	if code := a.login(t, c, "victor", "victor-password"); code != http.StatusTooManyRequests {
		t.Fatalf("another user from the same address: %d, want 429", code)
	}
	a.advance(15 * time.Second)
	if code := a.login(t, c, "olga", "olga-password"); code != http.StatusOK {
		t.Fatalf("after waiting: %d", code)
	}
	code, body := a.do(t, c, http.MethodGet, "/api/audit?limit=10", nil, nil)
	if code != http.StatusOK || strings.Count(body, `"event":"login_failed"`) != 5 || !strings.Contains(body, `"event":"login_limited"`) {
		t.Fatalf("audit: %d %s", code, body)
	}
}

// A session ends on the server after its lifetime, whatever the cookie.
func TestAuthSessionExpires(t *testing.T) {
	a := newAuthEnv(t)
	c := a.loggedIn(t, "victor")
	u, _ := url.Parse(a.ts.URL)
	cookies := c.Jar.Cookies(u)
	if len(cookies) != 1 || cookies[0].Name != httpauth.SessionCookie {
		t.Fatalf("cookies %v", cookies)
	}
	a.advance(sessionTTL - time.Second)
	if code, _ := a.do(t, c, http.MethodGet, "/api/status", nil, nil); code != http.StatusOK {
		t.Fatalf("before expiry: %d", code)
	}
	a.advance(time.Second)
	// The cookie is replayed by hand: the jar would drop it by itself.
	code, _ := a.do(t, a.client(t), http.MethodGet, "/api/status", nil, map[string]string{"Cookie": httpauth.SessionCookie + "=" + cookies[0].Value})
	if code != http.StatusUnauthorized {
		t.Fatalf("after expiry: %d", code)
	}
}

// The session cookie is Secure, HttpOnly and SameSite=Strict.
func TestAuthCookieAttributes(t *testing.T) {
	a := newAuthEnv(t)
	body := `{"user":"victor","password":"victor-password"}`
	resp, err := a.ts.Client().Post(a.ts.URL+"/login", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sc := resp.Header.Get("Set-Cookie")
	for _, want := range []string{httpauth.SessionCookie + "=", "Secure", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie %q lacks %s", sc, want)
		}
	}
}
