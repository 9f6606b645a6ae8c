package opcua

import (
	"math/rand/v2"
	"time"
)

// backoff spaces connection attempts after failures: the first attempt
// after a lost connection is immediate, then each failure doubles the wait
// from minDelay up to maxDelay, with ±20% jitter so that devices behind one
// gateway do not retry in lockstep. It does no I/O; the Source asks it
// before dialling.
type backoff struct {
	minDelay, maxDelay time.Duration
	jitter             func() float64 // in [0, 1); rand.Float64 unless a test fixes it

	failures int
	next     time.Time
}

func newBackoff(minDelay, maxDelay time.Duration) *backoff {
	if maxDelay < minDelay {
		maxDelay = minDelay
	}
	return &backoff{minDelay: minDelay, maxDelay: maxDelay, jitter: rand.Float64}
}

// wait returns how long to wait before the next attempt; zero means now.
func (b *backoff) wait(now time.Time) time.Duration {
	if d := b.next.Sub(now); d > 0 {
		return d
	}
	return 0
}

// failed records a failed attempt at now and schedules the next one.
func (b *backoff) failed(now time.Time) {
	d := b.minDelay << min(b.failures, 30)
	if d > b.maxDelay || d <= 0 {
		d = b.maxDelay
	}
	d = time.Duration(float64(d) * (0.8 + 0.4*b.jitter()))
	b.failures++
	b.next = now.Add(d)
}

// succeeded clears the failures after a successful connection.
func (b *backoff) succeeded() {
	b.failures = 0
	b.next = time.Time{}
}
