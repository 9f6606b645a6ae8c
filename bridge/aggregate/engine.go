package aggregate

import (
	"cmp"
	"container/heap"
	"math"
	"slices"

	"github.com/wotchain/wotchain/bridge/devstatus"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/protocols"
)

// engine is the aggregation state machine. It does no I/O: it is fed
// readings in sequence order and returns the windows they close, and it
// depends on nothing but those readings, so replaying the same readings
// from a snapshot reproduces the same windows.
type engine struct {
	// Seq is the last reading fed.
	Seq uint64
	// Watermark is the latest appliance time of any reading fed (aggregate
	// devices excepted): how far the appliance's clock has demonstrably got.
	Watermark int64
	// Sizes are the window sizes in ns; Since[i] is the earliest start of a
	// complete window of Sizes[i] (a size added to the configuration while
	// points were mid-window starts complete from the next window).
	Sizes []int64
	Since []int64
	// Gap is set when readings were skipped because they had been deleted
	// locally: the next reading's time moves Since past every window that
	// could have held them.
	Gap bool
	// Points are the points seen, sorted by key in snapshots.
	Points []*pointState

	grace  int64
	byKey  map[pointKey]*pointState
	due    dueHeap
	late   uint64
	opened int
}

type pointKey struct{ Device, Point string }

// pointState is one point's carried value and open windows.
type pointState struct {
	Device, Point, Unit string
	// The point's latest valid sample: it holds until the next one, into the
	// next window (carry-in of the time-weighted mean).
	HasLast       bool
	LastT         int64
	LastV         float64
	LastUncertain bool
	// ClosedThrough is the latest end of a closed window of the point; a
	// sample before it is late and dropped, so a sample counts in every
	// window size or in none.
	ClosedThrough int64
	// Open[i] is the open window of size Sizes[i], or nil.
	Open []*windowState
}

// windowState accumulates one window [Start, Start+size).
type windowState struct {
	Start     int64
	Count     int64
	Min, Max  float64
	Sum       float64
	Last      float64
	Uncertain bool
	// Time-weighted integral over [TWFrom, LastT] in value·seconds; the
	// value LastV holds from LastT on.
	TWFrom int64
	TWSum  float64
	LastT  int64
	LastV  float64
}

// closed is a window that closed, with its statistics.
type closed struct {
	Device, Point, Unit string
	Size                int64
	Start, End          int64
	Count               int64
	Min, Max, Mean      float64
	Last, TWMean        float64
	Uncertain           bool
	// Complete is false for a window that began before the aggregator saw
	// all its readings (see engine.Since); such windows are not emitted.
	Complete bool
}

func newEngine(sizes []int64, grace int64) *engine {
	e := &engine{Sizes: sizes, Since: make([]int64, len(sizes)), grace: grace}
	for i := range e.Since {
		e.Since[i] = math.MinInt64
	}
	e.index()
	return e
}

// index rebuilds the lookup map and the due heap after a snapshot load.
func (e *engine) index() {
	e.byKey = make(map[pointKey]*pointState, len(e.Points))
	e.due = e.due[:0]
	e.opened = 0
	for _, p := range e.Points {
		e.byKey[pointKey{p.Device, p.Point}] = p
		for i, w := range p.Open {
			if w != nil {
				e.due = append(e.due, dueEntry{end: w.Start + e.Sizes[i], p: p, size: i})
				e.opened++
			}
		}
	}
	heap.Init(&e.due)
}

// skip passes over deleted readings up to seq.
func (e *engine) skip(seq uint64) {
	e.Seq = seq
	e.Gap = true
}

// numeric returns the value a reading contributes, if any: a float or int
// value of Good or Uncertain quality. Bools, strings and Bad readings do
// not contribute (a Bad reading does not end the previous value's hold).
func numeric(r *reading.Reading) (float64, bool) {
	// A status record (bridge/devstatus) says what happened to the
	// device's stream, not what a point measured.
	if devstatus.IsStatus(r.Point) {
		return 0, false
	}
	if r.Quality != protocols.Good && r.Quality != protocols.Uncertain {
		return 0, false
	}
	switch {
	case r.Float != nil:
		return *r.Float, true
	case r.Int != nil:
		return float64(*r.Int), true
	}
	return 0, false
}

// feed processes the next reading (of a real device) and returns the
// windows it closes, in a deterministic order.
func (e *engine) feed(r *reading.Reading) []closed {
	e.Seq = r.Seq
	t := r.ApplianceTime
	e.Watermark = max(e.Watermark, t)
	if e.Gap {
		e.Gap = false
		for i := range e.Since {
			e.Since[i] = max(e.Since[i], t)
		}
	}
	var out []closed
	if v, ok := numeric(r); ok {
		out = e.sample(r, t, v)
	}
	return append(out, e.closeDue()...)
}

func (e *engine) sample(r *reading.Reading, t int64, v float64) []closed {
	k := pointKey{r.DeviceID, r.Point}
	p := e.byKey[k]
	if p == nil {
		p = &pointState{Device: r.DeviceID, Point: r.Point, ClosedThrough: math.MinInt64, Open: make([]*windowState, len(e.Sizes))}
		e.byKey[k] = p
		e.Points = append(e.Points, p)
	}
	if (p.HasLast && t < p.LastT) || t < p.ClosedThrough {
		e.late++
		return nil
	}
	var out []closed
	uncertain := r.Quality == protocols.Uncertain
	for i, size := range e.Sizes {
		start := floorDiv(t, size) * size
		w := p.Open[i]
		if w != nil && w.Start < start {
			out = append(out, e.close(p, i))
			w = nil
		}
		if w == nil {
			w = &windowState{Start: start, TWFrom: t, LastT: t, Min: v, Max: v}
			if p.HasLast {
				// The previous value holds from the window's start until
				// this sample.
				w.TWFrom, w.LastT, w.LastV = start, start, p.LastV
				w.Uncertain = p.LastUncertain && t > start
			}
			p.Open[i] = w
			e.opened++
			heap.Push(&e.due, dueEntry{end: start + size, p: p, size: i})
		}
		w.TWSum += w.LastV * seconds(t-w.LastT)
		w.LastT, w.LastV = t, v
		w.Count++
		w.Sum += v
		w.Min, w.Max = min(w.Min, v), max(w.Max, v)
		w.Last = v
		w.Uncertain = w.Uncertain || uncertain
	}
	p.HasLast, p.LastT, p.LastV, p.LastUncertain = true, t, v, uncertain
	p.Unit = r.Unit
	return out
}

// closeDue closes every open window whose end the watermark has passed by
// the grace period. The heap may hold entries of windows already closed by
// their own point's samples; those are skipped.
func (e *engine) closeDue() []closed {
	var out []closed
	for len(e.due) > 0 && e.due[0].end <= e.Watermark-e.grace {
		d := heap.Pop(&e.due).(dueEntry)
		if w := d.p.Open[d.size]; w != nil && w.Start+e.Sizes[d.size] == d.end {
			out = append(out, e.close(d.p, d.size))
		}
	}
	return out
}

// close ends the open window of size index i of p: the last value holds
// until the window's end.
func (e *engine) close(p *pointState, i int) closed {
	w, size := p.Open[i], e.Sizes[i]
	p.Open[i] = nil
	e.opened--
	end := w.Start + size
	tw := w.TWSum + w.LastV*seconds(end-w.LastT)
	p.ClosedThrough = max(p.ClosedThrough, end)
	return closed{
		Device: p.Device, Point: p.Point, Unit: p.Unit,
		Size: size, Start: w.Start, End: end,
		Count: w.Count, Min: w.Min, Max: w.Max, Mean: w.Sum / float64(w.Count),
		Last: w.Last, TWMean: tw / seconds(end-w.TWFrom), Uncertain: w.Uncertain,
		Complete: w.Start >= e.Since[i],
	}
}

func seconds(ns int64) float64 { return float64(ns) / 1e9 }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// dueEntry is an open window waiting for the watermark to pass its end.
type dueEntry struct {
	end  int64
	p    *pointState
	size int
}

// dueHeap orders by end, then point and size, so windows closing together
// close in the same order on every run.
type dueHeap []dueEntry

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	if c := cmp.Or(cmp.Compare(a.end, b.end), cmp.Compare(a.p.Device, b.p.Device), cmp.Compare(a.p.Point, b.p.Point)); c != 0 {
		return c < 0
	}
	return a.size < b.size
}
func (h dueHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)   { *h = append(*h, x.(dueEntry)) }
func (h *dueHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// sortPoints orders the points for a deterministic snapshot.
func (e *engine) sortPoints() {
	slices.SortFunc(e.Points, func(a, b *pointState) int {
		return cmp.Or(cmp.Compare(a.Device, b.Device), cmp.Compare(a.Point, b.Point))
	})
}
