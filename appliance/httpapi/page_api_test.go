package httpapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/protocols"
)

// seriesEnv serves 120 temperature readings of boiler-1, one a minute
// over the two hours before base, in anchored blocks, with the ledger and
// storage the chain check needs; authentication is off.
var seriesBase = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func newSeriesEnv(t *testing.T) (*Server, *pipelinetest.Chain) {
	t.Helper()
	c := pipelinetest.New(t, pipelinetest.WithMaxReadings(50), pipelinetest.WithDevices("boiler-1"),
		pipelinetest.WithStart(seriesBase.Add(-3*time.Hour)))
	for i := range 120 {
		q := protocols.Good
		if i == 100 {
			q = protocols.Uncertain
		}
		c.IngestPoll(t, "boiler-1", seriesBase.Add(time.Duration(i-119)*time.Minute),
			protocols.Sample{Point: "temperature", Value: float64(i), Unit: "degC", Quality: q},
			protocols.Sample{Point: "label", Value: "x", Quality: protocols.Good})
	}
	c.Seal(t)
	c.Drain(t)
	srv := New(Options{ApplianceID: c.ApplianceID, Store: c.Store, OwnerKey: c.Owner, Credentials: c.Ledger, Objects: c.Storage,
		Logger: slog.New(slog.DiscardHandler)})
	return srv, c
}

func seriesPath(params ...string) string {
	q := url.Values{"device": {"boiler-1"}, "point": {"temperature"}, "to": {seriesBase.Format(time.RFC3339)}}
	for i := 0; i+1 < len(params); i += 2 {
		q.Set(params[i], params[i+1])
	}
	return "/api/series?" + q.Encode()
}

func TestSeriesLastHour(t *testing.T) {
	srv, _ := newSeriesEnv(t)
	e := &env{srv: srv}
	var s seriesJSON
	// The hour before "to", inclusive: readings 59..119, one point each.
	e.getJSON(t, seriesPath(), http.StatusOK, &s)
	if s.Readings != 61 || len(s.Points) != 61 || s.Bucket != 0 || s.Unit != "degC" || s.Truncated {
		t.Fatalf("last hour: %d readings, %d points, bucket %v, unit %q", s.Readings, len(s.Points), s.Bucket, s.Unit)
	}
	if p := s.Points[0]; p.Mean != 59 || p.Min != 59 || p.Max != 59 || p.N != 1 || !p.T.Equal(seriesBase.Add(-time.Hour)) {
		t.Fatalf("first point %+v", p)
	}
	if p := s.Points[41]; p.NotOK != 1 || p.Mean != 100 {
		t.Fatalf("the uncertain reading's point %+v", p)
	}
	// A string point has no chart values.
	e.getJSON(t, seriesPath("point", "label"), http.StatusOK, &s)
	if s.Readings != 61 || len(s.Points) != 0 {
		t.Fatalf("string point: %d readings, %d points", s.Readings, len(s.Points))
	}
}

// More readings than points are downsampled into time buckets keeping the
// mean, the minimum and the maximum.
func TestSeriesDownsampled(t *testing.T) {
	srv, _ := newSeriesEnv(t)
	e := &env{srv: srv}
	var s seriesJSON
	e.getJSON(t, seriesPath("from", seriesBase.Add(-119*time.Minute).Format(time.RFC3339), "to", seriesBase.Add(time.Minute).Format(time.RFC3339), "points", "12"), http.StatusOK, &s)
	if s.Readings != 120 || len(s.Points) != 12 || s.Bucket != 600 {
		t.Fatalf("two hours in 12 points: %d readings, %d points, bucket %v s", s.Readings, len(s.Points), s.Bucket)
	}
	n := 0
	for i, p := range s.Points {
		n += p.N
		if p.N != 10 || p.Min != float64(i*10) || p.Max != float64(i*10+9) || p.Mean != float64(i*10)+4.5 {
			t.Fatalf("bucket %d: %+v", i, p)
		}
	}
	if n != 120 {
		t.Fatalf("buckets hold %d readings", n)
	}
	// A reading at "to" itself belongs to the last bucket, not a 13th.
	e.getJSON(t, seriesPath("from", seriesBase.Add(-2*time.Hour).Format(time.RFC3339), "points", "12"), http.StatusOK, &s)
	if len(s.Points) != 12 || s.Points[11].Max != 119 {
		t.Fatalf("up to a reading at to: %d points, last %+v", len(s.Points), s.Points[len(s.Points)-1])
	}
}

func TestSeriesBadParams(t *testing.T) {
	srv, _ := newSeriesEnv(t)
	e := &env{srv: srv}
	for _, c := range []struct{ path, param string }{
		{"/api/series?point=temperature", "device"},
		{seriesPath("points", "1"), "points"},
		{seriesPath("points", "5000"), "points"},
		{seriesPath("from", seriesBase.Add(time.Hour).Format(time.RFC3339)), "from"},
		{seriesPath("to", "yesterday"), "to"},
		{seriesPath("window", "1h"), "window"},
	} {
		var ae apiError
		e.getJSON(t, c.path, http.StatusBadRequest, &ae)
		if ae.Parameter != c.param {
			t.Errorf("%s: parameter %q (%s), want %q", c.path, ae.Parameter, ae.Error, c.param)
		}
	}
}

// The chain check of a block runs every link of `wotchain verify`; a
// block not anchored yet fails at its credential and says why.
func TestBlockVerify(t *testing.T) {
	srv, c := newSeriesEnv(t)
	e := &env{srv: srv}
	var v blockVerifyJSON
	e.getJSON(t, "/api/blocks/1/verify", http.StatusOK, &v)
	var names []string
	for _, ch := range v.Checks {
		names = append(names, ch.Name)
		if !ch.OK {
			t.Errorf("check %s failed: %s", ch.Name, ch.Detail)
		}
	}
	if want := "reading,block,credential,header signature,signing key,stored object,decrypt,block contents,poll signature,merkle proof"; !v.OK || v.Seq != c.Block(t, 1).FirstSeq || strings.Join(names, ",") != want {
		t.Fatalf("block 1: ok %v seq %d links %q, want %s", v.OK, v.Seq, names, want)
	}
	rec := c.Block(t, 2)
	e.getJSON(t, fmt.Sprintf("/api/blocks/%s/verify?seq=%d", rec.BlockID, rec.LastSeq), http.StatusOK, &v)
	if !v.OK || v.Height != 2 || v.Seq != rec.LastSeq {
		t.Fatalf("block 2 by id, last reading: %+v", v)
	}

	c.IngestPoll(t, "boiler-1", seriesBase.Add(time.Minute), protocols.Sample{Point: "temperature", Value: 1.0, Quality: protocols.Good})
	pending := c.Seal(t)[0]
	e.getJSON(t, fmt.Sprintf("/api/blocks/%d/verify", pending.Height), http.StatusOK, &v)
	if v.OK || v.Checks[len(v.Checks)-1].Name != "state" || !strings.Contains(v.Checks[len(v.Checks)-1].Detail, "not anchored yet") {
		t.Fatalf("a sealed block: %+v", v)
	}

	var ae apiError
	e.getJSON(t, fmt.Sprintf("/api/blocks/1/verify?seq=%d", rec.LastSeq), http.StatusBadRequest, &ae)
	if ae.Parameter != "seq" {
		t.Fatalf("a reading of another block: %+v", ae)
	}
	e.getJSON(t, "/api/blocks/99/verify", http.StatusNotFound, &ae)

	// Without the ledger and the storage the check cannot run.
	bare := &env{srv: New(Options{Store: c.Store, OwnerKey: c.Owner, Logger: slog.New(slog.DiscardHandler)})}
	bare.getJSON(t, "/api/blocks/1/verify", http.StatusServiceUnavailable, &ae)
}

// Roles: the chart's values are for viewers, the chain check (it reads
// readings) for admins; /verify holds no data and is open.
func TestPageRoutesRoles(t *testing.T) {
	a := newAuthEnv(t)
	anon, viewer, admin := a.client(t), a.loggedIn(t, "victor"), a.loggedIn(t, "olga")
	series := "/api/series?device=boiler-1&point=p0"
	check := func(c *http.Client, who, path string, ok func(int) bool) {
		t.Helper()
		if code, body := a.do(t, c, http.MethodGet, path, nil, nil); !ok(code) {
			t.Errorf("%s GET %s: %d %.200s", who, path, code, body)
		}
	}
	is := func(want int) func(int) bool { return func(c int) bool { return c == want } }
	allowed := func(c int) bool { return c != http.StatusUnauthorized && c != http.StatusForbidden }
	check(anon, "anonymous", series, is(http.StatusUnauthorized))
	check(anon, "anonymous", "/api/blocks/1/verify", is(http.StatusUnauthorized))
	check(viewer, "viewer", series, is(http.StatusOK))
	check(viewer, "viewer", "/api/blocks/1/verify", is(http.StatusForbidden))
	check(admin, "admin", "/api/blocks/1/verify", allowed)
	for _, p := range []string{"/verify/", "/verify/verify.js", "/verify/verify.css"} {
		check(anon, "anonymous", p, is(http.StatusOK))
	}
	code, body := a.do(t, viewer, http.MethodGet, "/api/status", nil, nil)
	if code != http.StatusOK || !strings.Contains(body, `"role": "viewer"`) {
		t.Errorf("the status names the viewer's role (the page hides admin actions): %d %s", code, body)
	}
}

// /verify is the offline verifier: it redirects to its folder, and its
// policy lets it compile WebAssembly while loading nothing from elsewhere.
func TestVerifyPage(t *testing.T) {
	e := newEnv(t)
	w := e.get(t, "/verify")
	if w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != "verify/" {
		t.Fatalf("/verify: %d to %q", w.Code, w.Header().Get("Location"))
	}
	w = e.get(t, "/verify/")
	csp := w.Header().Get("Content-Security-Policy")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `<script src="verify.js"`) ||
		!strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "'wasm-unsafe-eval'") {
		t.Fatalf("/verify/: %d, CSP %q", w.Code, csp)
	}
	// Without the build outputs the page says how to build them.
	w = e.get(t, "/verify/verify.js")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "make build") {
		t.Fatalf("verify.js: %d", w.Code)
	}
	if csp := e.get(t, "/").Header().Get("Content-Security-Policy"); strings.Contains(csp, "wasm") {
		t.Fatalf("the status page may not compile WebAssembly: %q", csp)
	}
}
