package httpauth

import (
	"crypto/rand"
	"encoding/base64"
	"sync"
	"time"
)

// maxSessions bounds the session table; at the bound the oldest expiry is
// dropped first.
const maxSessions = 1024

// sessions are logged-in browsers, kept on the server with their expiry:
// the cookie holds only a random id.
type sessions struct {
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	m  map[string]session
}

type session struct {
	user    string
	expires time.Time
}

func newSessions(ttl time.Duration, now func() time.Time) *sessions {
	return &sessions{ttl: ttl, now: now, m: map[string]session{}}
}

// create starts a session for user and returns its id and expiry.
func (s *sessions) create(user string) (string, time.Time, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", time.Time{}, err
	}
	id := base64.RawURLEncoding.EncodeToString(b)
	now := s.now()
	exp := now.Add(s.ttl)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	s.m[id] = session{user: user, expires: exp}
	return id, exp, nil
}

// sweep drops expired sessions and, at the bound, the one expiring first.
func (s *sessions) sweep(now time.Time) {
	var oldest string
	for id, se := range s.m {
		if !now.Before(se.expires) {
			delete(s.m, id)
		} else if oldest == "" || se.expires.Before(s.m[oldest].expires) {
			oldest = id
		}
	}
	if len(s.m) >= maxSessions {
		delete(s.m, oldest)
	}
}

// user returns the user of a live session and when it expires.
func (s *sessions) user(id string) (string, time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.m[id]
	if !ok {
		return "", time.Time{}, false
	}
	if !s.now().Before(se.expires) {
		delete(s.m, id)
		return "", time.Time{}, false
	}
	return se.user, se.expires, true
}

func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}
