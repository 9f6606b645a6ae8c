package httpapi

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"time"
)

// handleEvents streams a status snapshot as a server-sent "status" event
// every EventInterval and whenever Notify is called, until the client
// leaves or the server stops.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	if err := checkParams(r.URL.Query()); err != nil {
		s.writeError(w, r, err)
		return
	}
	select {
	case s.events <- struct{}{}:
		defer func() { <-s.events }()
	default:
		s.writeError(w, r, withStatus(http.StatusServiceUnavailable, errors.New("too many event streams open")))
		return
	}
	rc := http.NewResponseController(w)
	// The server's write timeout is for ordinary requests; a stream lives
	// as long as the page is open.
	if err := rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.log.Warn("event stream: cannot lift the write deadline", "err", err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // proxies must not buffer the stream
	w.WriteHeader(http.StatusOK)
	// The browser reconnects after this many milliseconds if the stream breaks.
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return
	}
	tick := time.NewTicker(s.opts.EventInterval)
	defer tick.Stop()
	for id := 1; ; id++ {
		changed := s.changedCh() // before the snapshot, so no Notify is missed
		if err := s.writeEvent(w, r, rc, id); err != nil {
			return // the client went away
		}
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		case <-changed:
		}
	}
}

func (s *Server) writeEvent(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, id int) error {
	data, err := json.Marshal(s.statusFor(r))
	if err != nil {
		return fmt.Errorf("event stream: %w", err)
	}
	// JSON from encoding/json has no raw newlines, so one data line holds it.
	if _, err := fmt.Fprintf(w, "id: %d\nevent: status\ndata: %s\n\n", id, data); err != nil {
		return err
	}
	return rc.Flush()
}

//go:embed web
var webFiles embed.FS

// pageHandler serves the embedded status page and its script and style.
func (s *Server) pageHandler() http.Handler {
	sub, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

// verifyPage serves the offline verifier (web/verify) from the embedded
// page files. Its script compiles WebAssembly, which the policy must allow;
// it still loads nothing from elsewhere.
func (s *Server) verifyPage(page http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; frame-ancestors 'none'")
		page.ServeHTTP(w, r)
	})
}
