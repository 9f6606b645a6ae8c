// Package livesub is the partner's side of the per-grant live streams
// (bridge/grantpub): it unwraps the grant's epoch keys, opens each message,
// checks its poll signature against the appliance's keys at once, drops
// repeats by sequence number and keeps its position in a small state file,
// so that a restart neither loses nor repeats a reading; later, CheckAnchored
// proves each reading in its anchored block (bridge/proof). Run reads them from
// the broker; `wotchain subscribe` is its command.
package livesub

import (
	"crypto/ed25519"
	"crypto/hpke"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/wotchain/wotchain/bridge/livegrant"
	"github.com/wotchain/wotchain/bridge/publish"
)

// Line is one JSON line of output: a reading of a grant, its poll signature
// checked ("signed").
type Line struct {
	Grant string `json:"grant"`
	publish.Message
	Check string `json:"check"`
}

// State is the durable position: per grant the last seq written, and the
// epoch keys unwrapped (a retained key message may be replaced while
// messages sealed under the old key are still queued for us).
type State struct {
	Last map[string]uint64   `json:"last"`
	Keys map[string][][]byte `json:"keys"` // "grant/epoch" -> keys
	// Unanchored are the readings written whose block is not yet
	// anchored and checked (CheckAnchored).
	Unanchored []unanchored `json:"unanchored,omitempty"`
}

// Subscriber handles one partner's messages. Not safe for concurrent use.
type Subscriber struct {
	mu        sync.Mutex // Run's handlers
	priv      hpke.PrivateKey
	appKeys   []ed25519.PublicKey
	grants    map[string]bool // nil: any grant whose keys unwrap
	statePath string
	st        State
	out       io.Writer
	pending   []livegrant.Sealed // data awaiting its key, in arrival order
	ready     chan struct{}      // closed once Run has subscribed
}

// New loads the state file (absent: a fresh start).
func New(priv hpke.PrivateKey, appKeys []ed25519.PublicKey, grants []string, statePath string, out io.Writer) (*Subscriber, error) {
	s := &Subscriber{priv: priv, appKeys: appKeys, statePath: statePath, out: out, ready: make(chan struct{}),
		st: State{Last: map[string]uint64{}, Keys: map[string][][]byte{}}}
	if len(grants) > 0 {
		s.grants = map[string]bool{}
		for _, g := range grants {
			s.grants[g] = true
		}
	}
	b, err := os.ReadFile(statePath)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("state %s: %w", statePath, err)
	default:
		if err := json.Unmarshal(b, &s.st); err != nil {
			return nil, fmt.Errorf("state %s: %w", statePath, err)
		}
	}
	return s, nil
}

// Last is the last seq written for grant.
func (s *Subscriber) Last(grant string) uint64 { return s.st.Last[grant] }

func keyName(grant string, epoch uint64) string { return grant + "/" + strconv.FormatUint(epoch, 10) }

// Handle takes one message of topic .../grant/{id}/keys/{epoch} or
// .../grant/{id}/data. It returns once what it wrote is durable.
func (s *Subscriber) Handle(topic string, payload []byte) error {
	switch {
	case strings.Contains(topic, "/keys/"):
		var km livegrant.KeyMessage
		if err := json.Unmarshal(payload, &km); err != nil {
			return fmt.Errorf("%s: %w", topic, err)
		}
		if s.grants != nil && !s.grants[km.Grant] {
			return nil
		}
		ek, err := km.Unwrap(s.priv)
		if err != nil {
			return nil // not ours (or not for this key): nothing to read
		}
		n := keyName(ek.Grant, ek.Epoch)
		for _, k := range s.st.Keys[n] {
			if string(k) == string(ek.Key) {
				return nil
			}
		}
		s.st.Keys[n] = append(s.st.Keys[n], ek.Key)
		if err := s.save(); err != nil {
			return err
		}
		// Retry what waited, in order; whatever still lacks its key
		// waits again, with everything after it.
		pending := s.pending
		s.pending = nil
		for i := range pending {
			if err := s.data(&pending[i]); err != nil {
				return err
			}
		}
		return nil
	case strings.HasSuffix(topic, "/data"):
		var m livegrant.Sealed
		if err := json.Unmarshal(payload, &m); err != nil {
			return fmt.Errorf("%s: %w", topic, err)
		}
		if s.grants != nil && !s.grants[m.Grant] {
			return nil
		}
		return s.data(&m)
	}
	return nil
}

func (s *Subscriber) data(m *livegrant.Sealed) error {
	if m.Seq <= s.st.Last[m.Grant] {
		return nil // a repeat (at-least-once)
	}
	for _, p := range s.pending {
		if p.Grant == m.Grant {
			// An earlier message of the grant waits for its key: keep the
			// order, or the wait would turn into a loss.
			s.pending = append(s.pending, *m)
			return nil
		}
	}
	keys := s.st.Keys[keyName(m.Grant, m.Epoch)]
	var plain []byte
	for _, k := range keys {
		p, err := livegrant.Open(&livegrant.EpochKey{Grant: m.Grant, Epoch: m.Epoch, Key: k}, m)
		if err == nil {
			plain = p
			break
		}
	}
	if plain == nil {
		if len(s.pending) < 100000 {
			s.pending = append(s.pending, *m) // its key has not come yet
		}
		return nil
	}
	var p livegrant.Payload
	if err := json.Unmarshal(plain, &p); err != nil {
		return fmt.Errorf("grant %s message %d: %w", m.Grant, m.Seq, err)
	}
	if p.Seq != m.Seq {
		return fmt.Errorf("grant %s message %d carries reading %d", m.Grant, m.Seq, p.Seq)
	}
	var verr error
	for _, k := range s.appKeys {
		if verr = p.Verify(k); verr == nil {
			break
		}
	}
	if len(s.appKeys) == 0 {
		verr = errors.New("no appliance key")
	}
	if verr != nil {
		return fmt.Errorf("grant %s reading %d: %w", m.Grant, m.Seq, verr)
	}
	b, err := json.Marshal(Line{Grant: m.Grant, Message: p.Message, Check: "signed"})
	if err != nil {
		return err
	}
	if _, err := s.out.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write reading %d: %w: %w", m.Seq, ErrNotDurable, err)
	}
	if f, ok := s.out.(interface{ Sync() error }); ok {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("write reading %d: %w: %w", m.Seq, ErrNotDurable, err)
		}
	}
	s.st.Last[m.Grant] = m.Seq
	s.st.Unanchored = append(s.st.Unanchored, unanchored{Grant: m.Grant, Payload: plain})
	return s.save()
}

// ErrNotDurable marks a message the subscriber could not make durable
// (its line or the state not written, e.g. a full disk): it must not be
// acknowledged, so the broker sends it again after a reconnect.
var ErrNotDurable = errors.New("not made durable")

// save writes the state atomically.
func (s *Subscriber) save() error {
	if err := s.writeState(); err != nil {
		return fmt.Errorf("%w: %w", ErrNotDurable, err)
	}
	return nil
}

// writeState writes the state atomically (temporary file, sync, rename).
func (s *Subscriber) writeState() error {
	b, err := json.Marshal(&s.st)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.statePath), ".state-*")
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.statePath); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// Resume reads the output written so far (JSON lines) and moves each
// grant's position past the last reading in it: a crash between writing a
// line and saving the state then repeats nothing.
func (s *Subscriber) Resume(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var l Line
		err := dec.Decode(&l)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			// A torn last line (a crash mid-write): what came before counts.
			return nil
		}
		if l.Seq > s.st.Last[l.Grant] {
			s.st.Last[l.Grant] = l.Seq
		}
	}
}

// Ready is closed once Run has subscribed to the grants' topics.
func (s *Subscriber) Ready() <-chan struct{} { return s.ready }
