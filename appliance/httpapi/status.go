package httpapi

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/wotchain/wotchain/appliance/httpauth"
	"github.com/wotchain/wotchain/bridge/devstatus"
	"github.com/wotchain/wotchain/bridge/store"
)

// Device states shown to operators.
const (
	stateWaiting = "waiting" // no poll finished yet
	stateOK      = "ok"
	stateFailing = "failing" // the latest poll failed
)

type deviceJSON struct {
	ID              string      `json:"id"`
	Protocol        string      `json:"protocol"`
	IntervalSeconds float64     `json:"interval_seconds"`
	State           string      `json:"state"`
	Health          healthJSON  `json:"health"`
	Source          *sourceJSON `json:"source,omitempty"`
	Points          []pointJSON `json:"points"`
}

type healthJSON struct {
	Polls               uint64     `json:"polls"`
	Errors              uint64     `json:"errors"`
	ConsecutiveErrors   uint64     `json:"consecutive_errors"`
	Readings            uint64     `json:"readings"`
	LastGood            *time.Time `json:"last_good,omitempty"`
	LastError           string     `json:"last_error,omitempty"`
	LastDurationSeconds float64    `json:"last_duration_seconds"`
}

type sourceJSON struct {
	Connected        bool   `json:"connected"`
	Reconnects       uint64 `json:"reconnects"`
	RequestsLastPoll int    `json:"requests_last_poll"`
	RequestsTotal    uint64 `json:"requests_total"`
}

type pointJSON struct {
	Point   string    `json:"point"`
	Value   any       `json:"value"`
	Unit    string    `json:"unit,omitempty"`
	Quality string    `json:"quality"`
	Reason  string    `json:"reason,omitempty"`
	Time    time.Time `json:"time"`
	Seq     uint64    `json:"seq"`
}

func deviceState(d DeviceStatus) string {
	switch {
	case d.Health.ConsecutiveErrors > 0:
		return stateFailing
	case d.Health.Polls == 0:
		return stateWaiting
	}
	return stateOK
}

func toDeviceJSON(d DeviceStatus) deviceJSON {
	out := deviceJSON{
		ID: d.ID, Protocol: d.Protocol, IntervalSeconds: d.Interval.Seconds(), State: deviceState(d),
		Health: healthJSON{
			Polls: d.Health.Polls, Errors: d.Health.Errors, ConsecutiveErrors: d.Health.ConsecutiveErrors,
			Readings: d.Health.Readings, LastError: d.Health.LastError, LastDurationSeconds: d.Health.LastDuration.Seconds(),
		},
		Points: make([]pointJSON, 0, len(d.Last)),
	}
	if !d.Health.LastGood.IsZero() {
		t := d.Health.LastGood.UTC()
		out.Health.LastGood = &t
	}
	if st := d.Stats; st != nil {
		out.Source = &sourceJSON{Connected: st.Connected, Reconnects: st.Reconnects, RequestsLastPoll: st.RequestsLastPoll, RequestsTotal: st.RequestsTotal}
	}
	for _, p := range d.Last {
		// Status records are no point's value (the health says the same).
		if devstatus.IsStatus(p.Point) {
			continue
		}
		out.Points = append(out.Points, pointJSON{Point: p.Point, Value: jsonValue(p.Value), Unit: p.Unit, Quality: p.Quality.String(),
			Reason: p.Reason, Time: p.Time.UTC(), Seq: p.Seq})
	}
	return out
}

// jsonValue passes the four sample value types and drops anything JSON
// cannot carry (NaN, infinities) or a source should not have returned, as
// normalisation does for stored readings.
func jsonValue(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
		return x
	case int64, bool, string:
		return x
	}
	return nil
}

// devices returns the devices sorted by id, so pages and metrics are stable.
func (s *Server) devices() []DeviceStatus {
	if s.opts.Devices == nil {
		return nil
	}
	ds := slices.Clone(s.opts.Devices.Devices())
	slices.SortFunc(ds, func(a, b DeviceStatus) int { return strings.Compare(a.ID, b.ID) })
	return ds
}

func (s *Server) devicesJSON() []deviceJSON {
	ds := s.devices()
	out := make([]deviceJSON, len(ds))
	for i, d := range ds {
		out[i] = toDeviceJSON(d)
	}
	return out
}

// pipelineState is the pipeline as the store records it.
type pipelineState struct {
	NextSeq       uint64
	Sealed        uint64 // blocks
	Uploaded      uint64
	Anchored      uint64
	OutboxDepth   int
	OldestPending *store.BlockRecord // nil when the outbox is empty
	LastAnchored  *store.BlockRecord // nil before the first anchoring
	Counters      PipelineCounters
}

// pipeline reads the pipeline's state. The store gives no snapshot across
// these reads, so the order matters: the last block is read before the
// outbox and outbox entries above it are ignored, which keeps every total
// monotonic while blocks are sealed and anchored concurrently.
func (s *Server) pipeline() (*pipelineState, error) {
	st := s.opts.Store
	p := &pipelineState{}
	if s.opts.Pipeline != nil {
		p.Counters = s.opts.Pipeline.Counters()
	}
	var err error
	if p.NextSeq, err = st.NextSeq(); err != nil {
		return nil, fmt.Errorf("pipeline state: %w", err)
	}
	last, err := st.LastBlock()
	if store.IsNotFound(err) {
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pipeline state: last block: %w", err)
	}
	p.Sealed = last.Height + 1
	pending, err := st.Outbox()
	if err != nil {
		return nil, fmt.Errorf("pipeline state: outbox: %w", err)
	}
	pending = slices.DeleteFunc(pending, func(h uint64) bool { return h > last.Height })
	p.OutboxDepth = len(pending)
	// A block leaves the outbox exactly when anchored.
	p.Anchored = p.Sealed - uint64(len(pending))
	p.Uploaded = p.Anchored
	lastAnchored := last.Height
	if len(pending) > 0 {
		if p.OldestPending, err = st.Block(pending[0]); err != nil {
			return nil, fmt.Errorf("pipeline state: %w", err)
		}
		// Uploads go in height order ahead of anchoring, so the pending
		// blocks already uploaded are a prefix of the outbox: find its end
		// by binary search (a backlog after a ledger outage can be long).
		var serr error
		uploaded := sort.Search(len(pending), func(i int) bool {
			if serr != nil {
				return true
			}
			b := p.OldestPending
			if i > 0 {
				if b, serr = st.Block(pending[i]); serr != nil {
					return true
				}
			}
			return b.State != store.Uploaded
		})
		if serr != nil {
			return nil, fmt.Errorf("pipeline state: %w", serr)
		}
		p.Uploaded += uint64(uploaded)
		if pending[0] == 0 {
			return p, nil
		}
		lastAnchored = pending[0] - 1
	}
	if lastAnchored == last.Height {
		p.LastAnchored = last
	} else if p.LastAnchored, err = st.Block(lastAnchored); err != nil {
		return nil, fmt.Errorf("pipeline state: %w", err)
	}
	if p.LastAnchored.State != store.Anchored {
		p.LastAnchored = nil
	}
	return p, nil
}

type pipelineJSON struct {
	ReadingsStored         uint64     `json:"readings_stored"`
	NextSeq                uint64     `json:"next_seq"`
	BlocksSealed           uint64     `json:"blocks_sealed"`
	BlocksUploaded         uint64     `json:"blocks_uploaded"`
	BlocksAnchored         uint64     `json:"blocks_anchored"`
	OutboxDepth            int        `json:"outbox_depth"`
	OutboxOldestSealedAt   *time.Time `json:"outbox_oldest_sealed_at,omitempty"`
	OutboxOldestAgeSeconds float64    `json:"outbox_oldest_age_seconds"`
	StorageErrors          uint64     `json:"storage_errors"`
	LedgerErrors           uint64     `json:"ledger_errors"`
	LastAnchorError        string     `json:"last_anchor_error,omitempty"`
	LastAnchored           *blockJSON `json:"last_anchored"`
}

func (p *pipelineState) oldestAge(now time.Time) time.Duration {
	if p.OldestPending == nil {
		return 0
	}
	return max(0, now.Sub(time.Unix(0, p.OldestPending.SealedAt)))
}

func (p *pipelineState) json(now time.Time) (*pipelineJSON, error) {
	out := &pipelineJSON{
		ReadingsStored: p.NextSeq - 1, NextSeq: p.NextSeq,
		BlocksSealed: p.Sealed, BlocksUploaded: p.Uploaded, BlocksAnchored: p.Anchored,
		OutboxDepth: p.OutboxDepth, OutboxOldestAgeSeconds: p.oldestAge(now).Seconds(),
		StorageErrors: p.Counters.StorageErrors, LedgerErrors: p.Counters.LedgerErrors,
		LastAnchorError: p.Counters.LastAnchorError,
	}
	if p.OldestPending != nil {
		t := time.Unix(0, p.OldestPending.SealedAt).UTC()
		out.OutboxOldestSealedAt = &t
	}
	if p.LastAnchored != nil {
		b, err := toBlockJSON(p.LastAnchored)
		if err != nil {
			return nil, err
		}
		out.LastAnchored = &b
	}
	return out, nil
}

// statusJSON is one status snapshot: the body of /api/status and of every
// status event.
type statusJSON struct {
	Time      time.Time     `json:"time"`
	Appliance string        `json:"appliance,omitempty"`
	User      string        `json:"user,omitempty"` // who asked, with authentication on
	Role      string        `json:"role,omitempty"` // their role: the page offers admin actions to admins
	Devices   []deviceJSON  `json:"devices"`
	Pipeline  *pipelineJSON `json:"pipeline,omitempty"`
	// Error says why the pipeline part is missing.
	Error string `json:"error,omitempty"`
}

// status builds a snapshot. A store failure leaves the pipeline out and
// says why, so the page still shows the devices.
func (s *Server) status() statusJSON {
	now := time.Now()
	st := statusJSON{Time: now.UTC(), Appliance: s.opts.ApplianceID, Devices: s.devicesJSON()}
	if err := s.needStore(); err != nil {
		st.Error = err.Error()
		return st
	}
	p, err := s.pipeline()
	if err == nil {
		st.Pipeline, err = p.json(now)
	}
	if err != nil {
		st.Error = err.Error()
	}
	return st
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.statusFor(r))
}

// statusFor is the snapshot with the user who asked for it, so the page
// can offer to log out.
func (s *Server) statusFor(r *http.Request) statusJSON {
	st := s.status()
	if id, ok := httpauth.From(r.Context()); ok {
		st.User, st.Role = id.User.Name, string(id.User.Role)
	}
	return st
}

func (s *Server) handleDevices(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Devices []deviceJSON `json:"devices"`
	}{s.devicesJSON()})
}
