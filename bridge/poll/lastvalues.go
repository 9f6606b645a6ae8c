package poll

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wotchain/wotchain/bridge/devstatus"
	"github.com/wotchain/wotchain/protocols"
)

// PointValue is the latest value of one point.
type PointValue struct {
	Point   string
	Value   any // float64, int64, bool, string or nil
	Unit    string
	Quality protocols.Quality
	Reason  string
	Time    time.Time // appliance time of the reading
	Seq     uint64
}

// LastValues remembers the latest value of every point of every device, for
// the devices' status (the HTTP API shows them). Wrap the loops' sink with
// Sink; it is safe for concurrent use.
type LastValues struct {
	mu   sync.Mutex
	byID map[string]map[string]PointValue
}

// NewLastValues returns an empty LastValues.
func NewLastValues() *LastValues {
	return &LastValues{byID: map[string]map[string]PointValue{}}
}

// Sink returns a Sink that passes each poll to next and, once next has
// stored it, records its samples as the device's latest values. Only stored
// values are shown, so the page never displays a value the store lacks.
func (lv *LastValues) Sink(next Sink) Sink {
	return sinkFunc(func(deviceID string, samples []protocols.Sample, at time.Time) (uint64, uint64, error) {
		first, last, err := next.Ingest(deviceID, samples, at)
		if err == nil {
			lv.Record(deviceID, first, samples, at)
		}
		return first, last, err
	})
}

type sinkFunc func(deviceID string, samples []protocols.Sample, at time.Time) (uint64, uint64, error)

func (f sinkFunc) Ingest(deviceID string, samples []protocols.Sample, at time.Time) (uint64, uint64, error) {
	return f(deviceID, samples, at)
}

// Record stores a poll's samples, the first of which got sequence number
// first. A pushed sample's own receive time wins over the poll time, as in
// the stored reading.
func (lv *LastValues) Record(deviceID string, first uint64, samples []protocols.Sample, at time.Time) {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	points := lv.byID[deviceID]
	if points == nil {
		points = map[string]PointValue{}
		lv.byID[deviceID] = points
	}
	for i, s := range samples {
		// A status record is no value of the device: its health says
		// the same, and the point listings show values only.
		if devstatus.IsStatus(s.Point) {
			continue
		}
		t := at
		if !s.Received.IsZero() {
			t = s.Received
		}
		// Subscriptions may deliver a point several times per poll, not
		// necessarily in time order; keep the newest.
		if old, ok := points[s.Point]; ok && old.Time.After(t) {
			continue
		}
		points[s.Point] = PointValue{Point: s.Point, Value: s.Value, Unit: s.Unit, Quality: s.Quality,
			Reason: s.Reason, Time: t, Seq: first + uint64(i)}
	}
}

// Values returns a device's latest values sorted by point name.
func (lv *LastValues) Values(deviceID string) []PointValue {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	out := make([]PointValue, 0, len(lv.byID[deviceID]))
	for _, v := range lv.byID[deviceID] {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b PointValue) int { return strings.Compare(a.Point, b.Point) })
	return out
}

// Forget drops a device that was removed from the configuration.
func (lv *LastValues) Forget(deviceID string) {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	delete(lv.byID, deviceID)
}
