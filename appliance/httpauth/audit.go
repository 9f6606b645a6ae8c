package httpauth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Event is one line of the audit log.
type Event struct {
	Time time.Time `json:"time"`
	// Event is login, login_failed, login_limited, logout, access or denied.
	Event  string `json:"event"`
	User   string `json:"user,omitempty"`
	Addr   string `json:"addr"`
	Method string `json:"method,omitempty"`
	Path   string `json:"path,omitempty"` // with the query
	Status int    `json:"status,omitempty"`
	Via    string `json:"via,omitempty"` // session or token
}

// Audit is an append-only JSON lines file (0600) of logins and of access
// to readings, proofs and the log itself.
type Audit struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// OpenAudit opens (or creates) the audit log for appending.
func OpenAudit(path string) (*Audit, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	st, err := f.Stat()
	if err == nil && st.Mode().Perm()&0o077 != 0 {
		err = fmt.Errorf("mode %#o lets others read or change it; chmod 600 %s", st.Mode().Perm(), path)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit log %s: %w", path, err)
	}
	return &Audit{path: path, f: f}, nil
}

// Log appends one event as a single write, so lines never interleave.
func (a *Audit) Log(e Event) error {
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("audit log %s: %w", a.path, err)
	}
	return nil
}

// tailBytes is how much of the end of the log Tail reads at most.
const tailBytes = 1 << 20

// Tail returns the last n events, oldest first.
func (a *Audit) Tail(n int) ([]json.RawMessage, error) {
	f, err := os.Open(a.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	from := max(0, st.Size()-tailBytes)
	data, err := io.ReadAll(io.NewSectionReader(f, from, st.Size()-from))
	if err != nil {
		return nil, err
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if from > 0 && len(lines) > 0 {
		lines = lines[1:] // cut mid-line
	}
	out := []json.RawMessage{}
	for _, l := range lines[max(0, len(lines)-n):] {
		if json.Valid(l) {
			out = append(out, json.RawMessage(l))
		}
	}
	return out, nil
}

// Close closes the log.
func (a *Audit) Close() error { return a.f.Close() }
