package httpauth

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Login attempts: a burst of loginBurst, then one per loginEvery, for each
// client address and for each user name.
const (
	loginBurst = 5
	loginEvery = 12 * time.Second
	// maxLimiters bounds the table; beyond it, limiters back at their full
	// burst (nothing to remember) are dropped.
	maxLimiters = 4096
)

// loginLimiter rate-limits login attempts per key ("addr:..." or
// "user:...").
type loginLimiter struct {
	now func() time.Time

	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{now: now, m: map[string]*rate.Limiter{}}
}

// allow takes one attempt from every key's bucket; it refuses when any is
// empty, and then takes nothing from the rest.
func (l *loginLimiter) allow(keys ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.m) > maxLimiters {
		for k, lim := range l.m {
			if lim.TokensAt(now) >= loginBurst {
				delete(l.m, k)
			}
		}
	}
	lims := make([]*rate.Limiter, len(keys))
	for i, k := range keys {
		lim, ok := l.m[k]
		if !ok {
			lim = rate.NewLimiter(rate.Every(loginEvery), loginBurst)
			l.m[k] = lim
		}
		if lim.TokensAt(now) < 1 {
			return false
		}
		lims[i] = lim
	}
	for _, lim := range lims {
		lim.AllowN(now, 1)
	}
	return true
}
