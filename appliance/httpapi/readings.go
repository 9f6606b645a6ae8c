package httpapi

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
)

const (
	defaultReadingsLimit = 1000
	maxReadingsLimit     = 10000
)

type readingsJSON struct {
	Device   string         `json:"device"`
	Point    string         `json:"point"`
	Readings []reading.JSON `json:"readings"`
	// Truncated says the range held more than limit readings; ask again
	// with a later from.
	Truncated bool `json:"truncated"`
}

// readingsQuery is a parsed /api/readings request.
type readingsQuery struct {
	device, point string
	from, to      int64 // Unix ns
	hasFrom       bool
	limit         int
}

// checkParams refuses parameters the endpoint does not know, so a typo is
// an error rather than silently ignored.
func checkParams(q url.Values, known ...string) error {
	for k, v := range q {
		ok := false
		for _, n := range known {
			ok = ok || k == n
		}
		if !ok {
			return badParam(k, "unknown parameter")
		}
		if len(v) > 1 {
			return badParam(k, "given %d times", len(v))
		}
	}
	return nil
}

func parseTime(q url.Values, name string) (int64, bool, error) {
	v := q.Get(name)
	if v == "" {
		return 0, false, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return 0, false, badParam(name, "%q is not an RFC 3339 time (for example 2024-05-01T12:00:00Z)", v)
	}
	// UnixNano is undefined outside about 1678..2262.
	if t.Year() < 1678 || t.Year() > 2261 {
		return 0, false, badParam(name, "%q is out of range", v)
	}
	return t.UnixNano(), true, nil
}

func parseLimit(q url.Values, def, maxLimit int) (int, error) {
	v := q.Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxLimit {
		return 0, badParam("limit", "%q is not a whole number from 1 to %d", v, maxLimit)
	}
	return n, nil
}

func parseReadingsQuery(q url.Values) (*readingsQuery, error) {
	if err := checkParams(q, "device", "point", "from", "to", "limit"); err != nil {
		return nil, err
	}
	rq := &readingsQuery{device: q.Get("device"), point: q.Get("point"), to: math.MaxInt64}
	for _, p := range []struct{ name, v string }{{"device", rq.device}, {"point", rq.point}} {
		if p.v == "" {
			return nil, badParam(p.name, "required")
		}
		for _, c := range p.v {
			if c == 0 {
				return nil, badParam(p.name, "contains NUL")
			}
		}
	}
	var err error
	if rq.from, rq.hasFrom, err = parseTime(q, "from"); err != nil {
		return nil, err
	}
	to, hasTo, err := parseTime(q, "to")
	if err != nil {
		return nil, err
	}
	if hasTo {
		rq.to = to
	}
	if rq.hasFrom && rq.to < rq.from {
		return nil, badParam("to", "is before from")
	}
	if rq.limit, err = parseLimit(q, defaultReadingsLimit, maxReadingsLimit); err != nil {
		return nil, err
	}
	return rq, nil
}

// handleReadings answers a point's readings. Without from it returns the
// latest reading at or before to (or now); with from, the readings taken in
// [from, to] in time order, at most limit of them. Both come from the
// store's device/point/time index.
func (s *Server) handleReadings(w http.ResponseWriter, r *http.Request) {
	rq, err := parseReadingsQuery(r.URL.Query())
	if err == nil {
		err = s.needStore()
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := readingsJSON{Device: rq.device, Point: rq.point, Readings: []reading.JSON{}}
	st := s.opts.Store
	var seqs []uint64
	if !rq.hasFrom {
		seq, err := st.FindSeq(rq.device, rq.point, rq.to)
		switch {
		case err == nil:
			seqs = append(seqs, seq)
		case !store.IsNotFound(err):
			s.writeError(w, r, fmt.Errorf("latest reading of %s/%s: %w", rq.device, rq.point, err))
			return
		}
	} else {
		err := st.PointReadings(rq.device, rq.point, rq.from, rq.to, func(seq uint64) (bool, error) {
			if len(seqs) == rq.limit {
				out.Truncated = true
				return false, nil
			}
			seqs = append(seqs, seq)
			return r.Context().Err() == nil, nil
		})
		if err == nil {
			err = r.Context().Err()
		}
		if err != nil {
			s.writeError(w, r, fmt.Errorf("readings of %s/%s: %w", rq.device, rq.point, err))
			return
		}
	}
	for _, seq := range seqs {
		raw, err := st.Reading(seq)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		rd, err := reading.Decode(raw)
		if err != nil {
			s.writeError(w, r, fmt.Errorf("reading %d: %w", seq, err))
			return
		}
		out.Readings = append(out.Readings, rd.JSON())
	}
	writeJSON(w, http.StatusOK, out)
}
