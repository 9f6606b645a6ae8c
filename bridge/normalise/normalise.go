// Package normalise turns a protocol's sample into the canonical reading.
// It never drops a value: anything the canonical form cannot hold becomes a
// Bad reading that says why.
package normalise

import (
	"fmt"
	"time"

	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/protocols"
)

// Reading builds the canonical reading of one sample.
func Reading(applianceID, deviceID string, s protocols.Sample, seq uint64, at time.Time) *reading.Reading {
	r := &reading.Reading{
		ApplianceID:   applianceID,
		DeviceID:      deviceID,
		Point:         protocols.ValidText(s.Point),
		Unit:          protocols.ValidText(s.Unit),
		Quality:       quality(s.Quality),
		Reason:        protocols.ValidText(s.Reason),
		ApplianceTime: ApplianceTime(s, at),
		Seq:           seq,
	}
	if !s.SourceTime.IsZero() {
		r.SourceTime = s.SourceTime.UnixNano()
	}
	if err := r.SetValue(s.Value); err != nil {
		_ = r.SetValue(nil)
		r.Quality = protocols.Bad
		r.Reason = joinReason(r.Reason, err.Error())
	}
	if r.Value() == nil && r.Quality == protocols.Good {
		// A Good sample without a value is a protocol package bug; say so
		// in the reading rather than vouch for nothing.
		r.Quality = protocols.Bad
		r.Reason = joinReason(r.Reason, "no value")
	}
	return r
}

// ApplianceTime is the appliance time (Unix ns) of a sample taken in a poll
// at at: when the appliance received it if it was pushed, the poll's time
// otherwise.
func ApplianceTime(s protocols.Sample, at time.Time) int64 {
	if !s.Received.IsZero() {
		return s.Received.UnixNano()
	}
	return at.UnixNano()
}

func quality(q protocols.Quality) protocols.Quality {
	switch q {
	case protocols.Good, protocols.Uncertain:
		return q
	}
	return protocols.Bad
}

func joinReason(a, b string) string {
	if a == "" {
		return b
	}
	return fmt.Sprintf("%s; %s", a, b)
}
