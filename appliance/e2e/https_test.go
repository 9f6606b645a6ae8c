package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/appliance/httptls"
)

// cliStdin runs a wotchain command with stdin and returns its stdout, its
// stderr and its exit code.
func cliStdin(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errOut.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("wotchain %v: %v", args, err)
	}
	return out.String(), errOut.String(), 0
}

// TestHTTPSWithUsers runs the appliance on every address, which check
// refuses without TLS and users; with them it serves HTTPS under its own
// certificate (key 0600, fingerprint logged), asks for credentials,
// separates a viewer's token from an admin's session and audits the
// admin's reading.
func TestHTTPSWithUsers(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, 30, "1s")
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^  listen: 127\.0\.0\.1:(\d+)$`).FindSubmatch(raw)
	if m == nil {
		t.Fatalf("no http listen in\n%s", raw)
	}
	port := string(m[1])
	open := bytes.Replace(raw, m[0], []byte("  listen: 0.0.0.0:"+port), 1)
	if err := os.WriteFile(cfgPath, open, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := runCLI(t, "check", "--config", cfgPath); code != 1 || !strings.Contains(out, cfgPath+":") || !strings.Contains(out, "http.listen") || !strings.Contains(out, "needs http.tls and http.auth") {
		t.Fatalf("check of an open non-loopback listen: exit %d\n%s", code, out)
	}
	secure := bytes.Replace(open, []byte("  listen: 0.0.0.0:"+port+"\n"), []byte("  listen: 0.0.0.0:"+port+"\n  tls: {auto: true}\n  auth: {session_ttl: 1h}\n"), 1)
	if err := os.WriteFile(cfgPath, secure, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := cliStdin(t, "olga-password\n", "user", "add", "--config", cfgPath, "olga", "--role", "admin"); code != 0 {
		t.Fatalf("user add: %d %s", code, stderr)
	}
	token, stderr, code := cliStdin(t, "", "user", "token", "--config", cfgPath, "prometheus")
	if token = strings.TrimSpace(token); code != 0 || !strings.HasPrefix(token, "wct_") {
		t.Fatalf("user token: %d %q %s", code, token, stderr)
	}
	if out, code := runCLI(t, "check", "--config", cfgPath); code != 0 || !strings.Contains(out, "https://0.0.0.0:"+port+"/ with 2 users") {
		t.Fatalf("check: exit %d\n%s", code, out)
	}

	p := start(t, cfgPath)
	defer p.keepLog(t)
	p.waitFor(t, "an anchored block", 60*time.Second, func(_ uint64, anchored int) bool { return anchored >= 1 })
	c := pinnedClient(t, filepath.Join(dir, "data", "keys"), p)
	base := "https://127.0.0.1:" + port

	if code, _ := do(t, c, "GET", base+"/healthz", "", nil); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
	readings := base + "/api/readings?device=boiler-1&point=temperature"
	if code, _ := do(t, c, "GET", readings, "", nil); code != 401 {
		t.Fatalf("readings without credentials: %d", code)
	}
	if code, _ := do(t, c, "GET", base+"/metrics", "", nil); code != 401 {
		t.Fatalf("metrics without credentials: %d", code)
	}
	bearer := map[string]string{"Authorization": "Bearer " + token}
	if code, body := do(t, c, "GET", base+"/metrics", "", bearer); code != 200 || !strings.Contains(body, "wotchain_pipeline_blocks_anchored_total") {
		t.Fatalf("metrics with the token: %d", code)
	}
	if code, _ := do(t, c, "GET", readings, "", bearer); code != 403 {
		t.Fatalf("readings with a viewer's token: %d", code)
	}
	if code, _ := do(t, c, "GET", base+"/metrics", "", map[string]string{"Authorization": "Bearer wct_" + strings.Repeat("A", 43)}); code != 401 {
		t.Fatalf("metrics with a wrong token: %d", code)
	}
	if code, _ := do(t, c, "POST", base+"/login", `{"user":"olga","password":"wrong-password"}`, nil); code != 401 {
		t.Fatalf("login with a wrong password: %d", code)
	}
	if code, body := do(t, c, "POST", base+"/login", `{"user":"olga","password":"olga-password"}`, nil); code != 200 {
		t.Fatalf("login: %d %s", code, body)
	}
	if code, body := do(t, c, "GET", readings, "", nil); code != 200 || !strings.Contains(body, `"seq"`) {
		t.Fatalf("admin's readings: %d %s", code, body)
	}
	_, audit := do(t, c, "GET", base+"/api/audit", "", nil)
	for _, want := range []string{`"event":"login_failed","user":"olga"`, `"event":"login","user":"olga"`, `"event":"access","user":"olga","addr":"127.0.0.1","method":"GET","path":"/api/readings?device=boiler-1\u0026point=temperature","status":200`} {
		if !strings.Contains(audit, want) {
			t.Fatalf("audit lacks %s:\n%s", want, audit)
		}
	}
	p.stop(t)
	if st, err := os.Stat(filepath.Join(dir, "data", "http", "audit.jsonl")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("audit log: %v %v", st, err)
	}
}

// pinnedClient trusts only the appliance's self-signed certificate, after
// checking its key is 0600 and the logged fingerprint is the certificate's.
func pinnedClient(t *testing.T, keysDir string, p *proc) *http.Client {
	t.Helper()
	certFile, keyFile := httptls.SelfSignedFiles(keysDir)
	if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("certificate key: %v %v", st, err)
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatalf("%s holds no PEM", certFile)
	}
	fp := httptls.Fingerprint(block.Bytes)
	p.mu.Lock()
	logged := false
	for _, l := range p.logs {
		var rec struct {
			Msg string `json:"msg"`
			FP  string `json:"fingerprint_sha256"`
		}
		if json.Unmarshal([]byte(l), &rec) == nil && rec.Msg == "http certificate" && rec.FP == fp {
			logged = true
		}
	}
	p.mu.Unlock()
	if !logged {
		t.Fatalf("fingerprint %s not logged", fp)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		DialContext:     (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}}
}

func do(t *testing.T, c *http.Client, method, url, body string, header map[string]string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
