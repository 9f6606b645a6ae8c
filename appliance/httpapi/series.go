package httpapi

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/protocols"
)

const (
	defaultSeriesWindow = time.Hour
	defaultSeriesPoints = 300
	maxSeriesPoints     = 2000
	// maxSeriesReadings bounds the readings one chart request decodes: a
	// day of 1 s polls; a longer window is answered up to it, marked
	// truncated.
	maxSeriesReadings = 100_000
)

// seriesPoint is one bucket of a chart: the readings of
// [T, T+bucket) with a numeric value, their mean, minimum and maximum (so
// a spike survives downsampling) and how many were not of good quality.
type seriesPoint struct {
	T       time.Time `json:"t"`
	Mean    float64   `json:"mean"`
	Min     float64   `json:"min"`
	Max     float64   `json:"max"`
	N       int       `json:"n"`
	NotOK   int       `json:"not_good,omitempty"`
	LastSeq uint64    `json:"last_seq"`
}

type seriesJSON struct {
	Device string    `json:"device"`
	Point  string    `json:"point"`
	Unit   string    `json:"unit,omitempty"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	// Bucket is the width of each point in seconds; 0 when every reading
	// is its own point (no downsampling).
	Bucket    float64       `json:"bucket_seconds"`
	Readings  int           `json:"readings"`
	Truncated bool          `json:"truncated"`
	Points    []seriesPoint `json:"points"`
}

// seriesQuery is a parsed /api/series request: device/point over
// [from, to], at most points points.
type seriesQuery struct {
	device, point string
	from, to      time.Time
	points        int
}

func parseSeriesQuery(q map[string][]string, now time.Time) (*seriesQuery, error) {
	if err := checkParams(q, "device", "point", "from", "to", "points"); err != nil {
		return nil, err
	}
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	sq := &seriesQuery{device: get("device"), point: get("point"), to: now, points: defaultSeriesPoints}
	for name, v := range map[string]string{"device": sq.device, "point": sq.point} {
		if v == "" {
			return nil, badParam(name, "required")
		}
	}
	if to, ok, err := parseTime(q, "to"); err != nil {
		return nil, err
	} else if ok {
		sq.to = time.Unix(0, to)
	}
	sq.from = sq.to.Add(-defaultSeriesWindow)
	if from, ok, err := parseTime(q, "from"); err != nil {
		return nil, err
	} else if ok {
		sq.from = time.Unix(0, from)
	}
	if !sq.from.Before(sq.to) {
		return nil, badParam("from", "is not before to")
	}
	if v := get("points"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 || n > maxSeriesPoints {
			return nil, badParam("points", "%q is not a whole number from 2 to %d", v, maxSeriesPoints)
		}
		sq.points = n
	}
	return sq, nil
}

// numeric is a reading's value on a chart: floats and integers as they
// are, booleans as 0 and 1; strings and missing values are not charted.
func numeric(r *reading.Reading) (float64, bool) {
	switch v := r.Value().(type) {
	case float64:
		return v, true
	case int64:
		return float64(v), true
	case bool:
		if v {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// handleSeries serves GET /api/series?device=&point=&from=&to=&points=: a
// point's values over a window (the last hour by default) for a chart,
// downsampled on the appliance into at most points time buckets when the
// window holds more readings. Values, not raw readings: viewers may read it.
func (s *Server) handleSeries(w http.ResponseWriter, r *http.Request) {
	sq, err := parseSeriesQuery(r.URL.Query(), time.Now())
	if err == nil {
		err = s.needStore()
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.series(r, sq)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("series of %s/%s: %w", sq.device, sq.point, err))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) series(r *http.Request, sq *seriesQuery) (*seriesJSON, error) {
	out := &seriesJSON{Device: sq.device, Point: sq.point, From: sq.from.UTC(), To: sq.to.UTC(), Points: []seriesPoint{}}
	var all []*reading.Reading
	st := s.opts.Store
	err := st.PointReadings(sq.device, sq.point, sq.from.UnixNano(), sq.to.UnixNano(), func(seq uint64) (bool, error) {
		if len(all) == maxSeriesReadings {
			out.Truncated = true
			return false, nil
		}
		raw, err := st.Reading(seq)
		if err != nil {
			return false, err
		}
		rd, err := reading.Decode(raw)
		if err != nil {
			return false, fmt.Errorf("reading %d: %w", seq, err)
		}
		all = append(all, rd)
		return r.Context().Err() == nil, nil
	})
	if err == nil {
		err = r.Context().Err()
	}
	if err != nil {
		return nil, err
	}
	out.Readings = len(all)
	if len(all) > 0 {
		out.Unit = all[len(all)-1].Unit
	}
	out.Points, out.Bucket = downsample(all, sq.from, sq.to, sq.points)
	return out, nil
}

// downsample turns readings in time order into at most n points: one per
// reading when they are few, else one per non-empty time bucket of
// (to-from)/n. It returns the bucket width in seconds (0: not downsampled).
func downsample(rs []*reading.Reading, from, to time.Time, n int) ([]seriesPoint, float64) {
	out := []seriesPoint{}
	if len(rs) <= n {
		for _, r := range rs {
			v, ok := numeric(r)
			if !ok {
				continue
			}
			p := seriesPoint{T: time.Unix(0, r.ApplianceTime).UTC(), Mean: v, Min: v, Max: v, N: 1, LastSeq: r.Seq}
			if r.Quality != protocols.Good {
				p.NotOK = 1
			}
			out = append(out, p)
		}
		return out, 0
	}
	width := to.Sub(from) / time.Duration(n)
	if width <= 0 {
		width = 1
	}
	var cur *seriesPoint
	var sum float64
	flush := func() {
		if cur != nil && cur.N > 0 {
			cur.Mean = sum / float64(cur.N)
			out = append(out, *cur)
		}
	}
	for _, r := range rs {
		v, ok := numeric(r)
		if !ok {
			continue
		}
		b := min(time.Duration(r.ApplianceTime-from.UnixNano())/width, time.Duration(n-1)) // "to" itself is in the last
		start := from.Add(b * width).UTC()
		if cur == nil || !cur.T.Equal(start) {
			flush()
			cur, sum = &seriesPoint{T: start, Min: math.Inf(1), Max: math.Inf(-1)}, 0
		}
		cur.N++
		sum += v
		cur.Min, cur.Max = min(cur.Min, v), max(cur.Max, v)
		cur.LastSeq = r.Seq
		if r.Quality != protocols.Good {
			cur.NotOK++
		}
	}
	flush()
	return out, width.Seconds()
}
