package coap

import (
	"sync"
	"time"
)

// noteBuffer holds the notifications of one observed resource until the
// next Poll. It is bounded: when full, the oldest notification is dropped
// (under Observe's eventual consistency the newest state matters most) and
// the loss is counted so that Poll can report it.
//
// go-coap calls push from its receive goroutine; Poll calls drain.
type noteBuffer struct {
	mu        sync.Mutex
	capacity  int
	items     []response // ring once full; start is the oldest
	start     int
	lost      loss
	lastHeard time.Time     // last notification or registration
	maxAge    time.Duration // Max-Age of the last notification
}

// loss describes notifications dropped because the buffer was full.
type loss struct {
	count       int
	first, last time.Time // when the first and the last were dropped
}

func newNoteBuffer(capacity int) *noteBuffer {
	return &noteBuffer{capacity: capacity, maxAge: defaultMaxAge}
}

// push adds a notification, dropping the oldest when full.
func (b *noteBuffer) push(n response) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lastHeard, b.maxAge = n.received, n.maxAge
	if len(b.items) < b.capacity {
		b.items = append(b.items, n)
		return
	}
	if b.lost.count == 0 {
		b.lost.first = n.received
	}
	b.lost.count++
	b.lost.last = n.received
	b.items[b.start] = n
	b.start = (b.start + 1) % len(b.items)
}

// drain returns the buffered notifications, oldest first, and what was
// lost since the last drain, and empties the buffer.
func (b *noteBuffer) drain() ([]response, loss) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]response, 0, len(b.items))
	out = append(out, b.items[b.start:]...)
	out = append(out, b.items[:b.start]...)
	lost := b.lost
	b.items, b.start, b.lost = nil, 0, loss{}
	return out, lost
}

// touch marks the observation as alive at t (a registration).
func (b *noteBuffer) touch(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.After(b.lastHeard) {
		b.lastHeard = t
	}
}

// heard returns when the resource was last heard of and the freshness the
// device promised then.
func (b *noteBuffer) heard() (time.Time, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lastHeard, b.maxAge
}
