package aggregate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/wotchain/wotchain/bridge/reading"
)

// QueryStore is what Query reads. *store.Store implements it.
type QueryStore interface {
	PointReadings(device, point string, from, to int64, fn func(seq uint64) (bool, error)) error
	Reading(seq uint64) ([]byte, error)
}

// Request selects the aggregates of one point and window size whose windows
// lie within [From, To].
type Request struct {
	Device string // the real device, e.g. "boiler-1"
	Point  string
	Window time.Duration
	From   time.Time
	To     time.Time
	Limit  int // at most this many windows, the earliest; 0 means DefaultQueryLimit
}

// DefaultQueryLimit bounds a query that sets no limit.
const DefaultQueryLimit = 10000

// Window is one stored window of a point: the value and the reading's
// sequence number of each statistic stored (a seq can be proven with
// `wotchain verify --seq`).
type Window struct {
	Start   time.Time          `json:"start"`
	End     time.Time          `json:"end"`
	Quality string             `json:"quality"` // good, or uncertain when an uncertain value contributed
	Unit    string             `json:"unit,omitempty"`
	Values  map[string]float64 `json:"values"` // by statistic; count as a number too
	Seqs    map[string]uint64  `json:"seqs"`
}

// Query returns the stored aggregates, read through the store's point
// index, ordered by window start.
func Query(ctx context.Context, st QueryStore, req Request) ([]Window, error) {
	if req.Window <= 0 {
		return nil, errors.New("aggregate query: window size required")
	}
	if req.To.Before(req.From) {
		return nil, fmt.Errorf("aggregate query: range %s..%s is inverted", req.From, req.To)
	}
	limit := cmp.Or(req.Limit, DefaultQueryLimit)
	dev := AggregateDevice(req.Device)
	// A window lies in the range when its end does, and its start, end -
	// size, is not before From. Aggregates are indexed by their end.
	// A zero From means "from the first": its UnixNano would overflow.
	from, to := int64(0), req.To.UnixNano()
	if !req.From.IsZero() {
		from = req.From.Add(req.Window).UnixNano()
	}
	if from > to {
		return nil, nil
	}
	byEnd := map[int64]*Window{}
	for _, stat := range AllStats {
		n := 0
		err := st.PointReadings(dev, PointName(req.Point, req.Window, stat), from, to, func(seq uint64) (bool, error) {
			if err := ctx.Err(); err != nil {
				return false, err
			}
			raw, err := st.Reading(seq)
			if err != nil {
				return false, err
			}
			r, err := reading.Decode(raw)
			if err != nil {
				return false, fmt.Errorf("reading %d: %w", seq, err)
			}
			v, ok := numeric(r)
			if !ok {
				// Not an aggregate this package wrote (a non-finite result
				// is stored as a Bad reading); leave it out.
				return true, nil
			}
			w := byEnd[r.ApplianceTime]
			if w == nil {
				w = &Window{
					Start: time.Unix(0, r.ApplianceTime).Add(-req.Window).UTC(), End: time.Unix(0, r.ApplianceTime).UTC(),
					Quality: r.Quality.String(), Values: map[string]float64{}, Seqs: map[string]uint64{},
				}
				byEnd[r.ApplianceTime] = w
			}
			w.Values[stat], w.Seqs[stat] = v, seq
			if stat != StatCount {
				w.Unit = r.Unit
			}
			n++
			return n < limit, nil
		})
		if err != nil {
			return nil, fmt.Errorf("aggregate query %s/%s: %w", dev, req.Point, err)
		}
	}
	out := make([]Window, 0, len(byEnd))
	for _, w := range byEnd {
		out = append(out, *w)
	}
	slices.SortFunc(out, func(a, b Window) int { return a.Start.Compare(b.Start) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
