package opcua

import (
	"fmt"
	"sync"
	"time"

	"github.com/wotchain/wotchain/protocols"
)

// sampleBuffer holds the values pushed by subscriptions between two polls.
// It is bounded: when full it drops the oldest value, because a stalled
// pipeline must cost a fixed amount of memory, and it counts every loss
// per point so the next poll reports it as a Bad sample.
type sampleBuffer struct {
	mu   sync.Mutex
	max  int
	ring []protocols.Sample // grows up to max, then wraps
	head int                // index of the oldest sample
	n    int
	lost map[string]*loss // point name -> values dropped since the last drain
	seen []string         // points in the order of their first loss
}

type loss struct {
	unit  string
	count uint64
	first time.Time
}

func newSampleBuffer(max int) *sampleBuffer {
	return &sampleBuffer{max: max, lost: make(map[string]*loss)}
}

// push appends a sample, dropping the oldest one when the buffer is full.
func (b *sampleBuffer) push(s protocols.Sample) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n == len(b.ring) && len(b.ring) < b.max {
		b.grow()
	}
	if b.n < len(b.ring) {
		b.ring[(b.head+b.n)%len(b.ring)] = s
		b.n++
		return
	}
	old := b.ring[b.head]
	b.countLossLocked(old.Point, old.Unit, time.Now())
	b.ring[b.head] = s
	b.head = (b.head + 1) % len(b.ring)
}

// grow doubles the ring (up to max), keeping the order; memory is only
// taken when values actually pile up.
func (b *sampleBuffer) grow() {
	size := min(max(2*len(b.ring), 64), b.max)
	ring := make([]protocols.Sample, size)
	for i := range b.n {
		ring[i] = b.ring[(b.head+i)%len(b.ring)]
	}
	b.ring, b.head = ring, 0
}

func (b *sampleBuffer) countLossLocked(point, unit string, at time.Time) {
	l, ok := b.lost[point]
	if !ok {
		l = &loss{unit: unit, first: at}
		b.lost[point] = l
		b.seen = append(b.seen, point)
	}
	l.count++
}

// len returns the number of buffered samples.
func (b *sampleBuffer) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

// drain returns and removes everything buffered: first one Bad sample per
// point that lost values to overflow (the oldest values are the ones
// dropped), then the samples in arrival order.
func (b *sampleBuffer) drain() []protocols.Sample {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]protocols.Sample, 0, len(b.seen)+b.n)
	for _, p := range b.seen {
		l := b.lost[p]
		out = append(out, protocols.Sample{
			Point: p, Unit: l.unit, Quality: protocols.Bad, Received: l.first,
			Reason: fmt.Sprintf("%d values lost: subscription buffer full (buffer_size %d)", l.count, b.max),
		})
	}
	for i := range b.n {
		out = append(out, b.ring[(b.head+i)%len(b.ring)])
	}
	clear(b.ring[:]) // drop references to the drained values
	b.head, b.n = 0, 0
	clear(b.lost)
	b.seen = b.seen[:0]
	return out
}
