package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/wotchain/wotchain/bridge/aggregate"
)

// handleAggregates serves GET /api/aggregates?device=&point=&window=&from=&to=&limit=:
// the stored window aggregates of one point (see bridge/aggregate), each
// with the sequence numbers of its aggregate readings, so every value can
// be proven like any reading.
func (s *Server) handleAggregates(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := checkParams(q, "device", "point", "window", "from", "to", "limit"); err != nil {
		s.writeError(w, r, err)
		return
	}
	req := aggregate.Request{Device: q.Get("device"), Point: q.Get("point"), To: time.Now()}
	for name, v := range map[string]string{"device": req.Device, "point": req.Point} {
		if v == "" {
			s.writeError(w, r, badParam(name, "required"))
			return
		}
	}
	win, err := time.ParseDuration(q.Get("window"))
	if err != nil || win <= 0 {
		s.writeError(w, r, badParam("window", "a positive duration such as 1m is required"))
		return
	}
	req.Window = win
	if from, ok, err := parseTime(q, "from"); err != nil {
		s.writeError(w, r, err)
		return
	} else if ok {
		req.From = time.Unix(0, from)
	}
	if to, ok, err := parseTime(q, "to"); err != nil {
		s.writeError(w, r, err)
		return
	} else if ok {
		req.To = time.Unix(0, to)
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.writeError(w, r, badParam("limit", "a positive integer is required"))
			return
		}
		req.Limit = n
	}
	if err := s.needStore(); err != nil {
		s.writeError(w, r, err)
		return
	}
	windows, err := aggregate.Query(r.Context(), s.opts.Store, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"device": req.Device, "point": req.Point, "window": win.String(), "windows": windows})
}
