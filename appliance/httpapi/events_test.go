package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// sseEvent is one parsed server-sent event.
type sseEvent struct {
	id, event string
	data      string
}

// readEvents parses events from an event stream into a channel until the
// stream ends or ctx is done.
func readEvents(ctx context.Context, body io.Reader) <-chan sseEvent {
	ch := make(chan sseEvent)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.event != "" || ev.data != "" {
					select {
					case ch <- ev:
					case <-ctx.Done():
						return
					}
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data += line[6:]
			}
		}
	}()
	return ch
}

func nextStatus(t *testing.T, ch <-chan sseEvent, within time.Duration) statusJSON {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("event stream ended")
		}
		if ev.event != "status" {
			t.Fatalf("event %q", ev.event)
		}
		var st statusJSON
		if err := json.Unmarshal([]byte(ev.data), &st); err != nil {
			t.Fatalf("event data %q: %v", ev.data, err)
		}
		return st
	case <-time.After(within):
		t.Fatalf("no event within %s", within)
	}
	return statusJSON{}
}

func openEvents(t *testing.T, url string) (*http.Response, <-chan sseEvent) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp, readEvents(ctx, resp.Body)
}

// newTestServer serves srv on loopback until the test ends. Registered as a
// cleanup before any stream is opened, it runs after their cleanups, once
// the streams are closed (Close waits for open requests).
func newTestServer(t *testing.T, srv *Server) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts
}

func TestEventsTick(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.EventInterval = 100 * time.Millisecond })
	ts := newTestServer(t, e.srv)
	_, events := openEvents(t, ts.URL)
	first := nextStatus(t, events, 5*time.Second)
	second := nextStatus(t, events, 5*time.Second)
	if len(first.Devices) != 2 || first.Pipeline == nil || first.Pipeline.ReadingsStored != 23 || first.Appliance != appID {
		t.Fatalf("first event: %+v", first)
	}
	if !second.Time.After(first.Time) {
		t.Fatalf("second event at %s, first at %s", second.Time, first.Time)
	}
}

func TestEventsOnNotify(t *testing.T) {
	// A long interval: the second event can only come from Notify.
	e := newEnv(t, func(o *Options) { o.EventInterval = time.Hour })
	ts := newTestServer(t, e.srv)
	_, events := openEvents(t, ts.URL)
	st := nextStatus(t, events, 5*time.Second)
	if v := st.Devices[0].Points[1].Value; v != 21.5 {
		t.Fatalf("first event temperature %v", v)
	}
	e.dev.set(twoDevices(22.75))
	e.c.Drain(t)
	e.srv.Notify()
	st = nextStatus(t, events, 5*time.Second)
	if v := st.Devices[0].Points[1].Value; v != 22.75 {
		t.Fatalf("event after Notify: temperature %v", v)
	}
	if st.Pipeline.BlocksAnchored != 6 || st.Pipeline.LastAnchored.Height != 5 {
		t.Fatalf("event after Notify: pipeline %+v", st.Pipeline)
	}
}

func TestEventsClientLimit(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxEventClients = 1 })
	ts := newTestServer(t, e.srv)
	_, events := openEvents(t, ts.URL)
	nextStatus(t, events, 5*time.Second)
	resp, err := http.Get(ts.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second stream: status %d", resp.StatusCode)
	}
}

func TestServeStopsWithContext(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.EventInterval = time.Hour })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.srv.ServeListener(ctx, ln) }()
	url := "http://" + ln.Addr().String()
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp.Body); resp.StatusCode != http.StatusOK || body != "ok\n" {
		t.Fatalf("healthz %d %q", resp.StatusCode, body)
	}
	resp.Body.Close()
	// An open event stream must not hold the shutdown up.
	_, events := openEvents(t, url)
	nextStatus(t, events, 5*time.Second)
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("shutdown took %s", took)
	}
	if _, ok := <-events; ok {
		t.Fatal("event stream still delivering after shutdown")
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Fatal("still listening after shutdown")
	}
}

func TestServeListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = New(Options{Logger: discardLogger()}).Serve(context.Background(), ln.Addr().String())
	if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("listening on a taken port: %v", err)
	}
}

func TestPageAssets(t *testing.T) {
	e := newEnv(t)
	cases := []struct{ path, ctype, contains string }{
		{"/", "text/html; charset=utf-8", `<script src="app.js"`},
		{"/app.js", "text/javascript; charset=utf-8", "EventSource"},
		{"/style.css", "text/css; charset=utf-8", ".state.failing"},
	}
	for _, c := range cases {
		w := e.get(t, c.path)
		if w.Code != http.StatusOK || w.Header().Get("Content-Type") != c.ctype || !strings.Contains(w.Body.String(), c.contains) {
			t.Fatalf("%s: %d %q, body has %q: %v", c.path, w.Code, w.Header().Get("Content-Type"), c.contains, strings.Contains(w.Body.String(), c.contains))
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Fatalf("%s: CSP %q", c.path, csp)
		}
	}
	if w := e.get(t, "/nope.js"); w.Code != http.StatusNotFound {
		t.Fatalf("unknown asset: %d", w.Code)
	}
	// Nothing is loaded from elsewhere: the appliance may have no internet.
	// The offline verifier's build outputs (Go's compiled code and loader)
	// are not ours to check; the SVG namespace is a name, not an address.
	err := fs.WalkDir(webFiles, "web", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path == "web/verify/verify.wasm" || path == "web/verify/wasm_exec.js" {
			return err
		}
		b, err := fs.ReadFile(webFiles, path)
		if err != nil {
			return err
		}
		text := strings.ReplaceAll(string(b), `"http://www.w3.org/2000/svg"`, "")
		for _, ref := range []string{"http://", "https://", "//cdn", "@import"} {
			if strings.Contains(text, ref) {
				return errors.New(path + " refers to " + ref)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
