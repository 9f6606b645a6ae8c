// Package devstatus is the vocabulary of status records: readings of a
// device's point "$status" that say what happened to its stream of
// readings (polls failing, paused by the disk budget, removed by a reload,
// the appliance stopped or started). They are ingested through the sink
// that takes polls, so they are signed, sealed, anchored, licensed and
// verified exactly like readings: the block format does not change. A
// stretch without readings can then be told apart from withheld data
// (bridge/gaps).
package devstatus

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/wotchain/wotchain/protocols"
)

// Point is the point of every status record. Configured point names never
// start with '$' (the configuration refuses them), so it names no value of
// a device.
const Point = "$status"

// IsStatus reports whether a reading of point is a status record.
func IsStatus(point string) bool { return point == Point }

// Reserved reports whether a point name is reserved for the appliance's
// own records, and refused in a device's configuration.
func Reserved(point string) bool { return strings.HasPrefix(point, "$") }

// State is a status record's value.
type State string

// The states. Down states begin a stretch without readings; the others
// end one (or say a device's definition changed).
const (
	PollFailing    State = "poll-failing"    // first failed poll after good ones; reason: the error
	Recovered      State = "recovered"       // first good poll after failures; reason: how many failed, since when
	Paused         State = "paused"          // by the disk budget
	Resumed        State = "resumed"         // by the disk budget
	Removed        State = "removed"         // by a configuration reload
	Changed        State = "changed"         // its definition, by a reload: restarted with the new one
	Added          State = "added"           // by a configuration reload
	Stopped        State = "stopped"         // the appliance stopped cleanly (before its final seal)
	Started        State = "started"         // the appliance started after a clean stop (or for the first time)
	StartedUnclean State = "started-unclean" // the appliance started after a run that did not stop cleanly
)

// Down reports whether the state says no readings follow until another
// status record: the stretch after it is explained.
func (s State) Down() bool {
	switch s {
	case PollFailing, Paused, Removed, Stopped:
		return true
	}
	return false
}

// Known reports whether s is one of the states above.
func (s State) Known() bool {
	switch s {
	case PollFailing, Recovered, Paused, Resumed, Removed, Changed, Added, Stopped, Started, StartedUnclean:
		return true
	}
	return false
}

// Sample is the status record of a state, as a poll's one sample. Its
// quality is Good: the record vouches for the state, which is true.
func Sample(s State, reason string) protocols.Sample {
	return protocols.Sample{Point: Point, Value: string(s), Quality: protocols.Good, Reason: protocols.ValidText(reason)}
}

// Sink durably takes one poll's samples (the pipeline's sink, as the poll
// loops use it).
type Sink interface {
	Ingest(deviceID string, samples []protocols.Sample, at time.Time) (first, last uint64, err error)
}

// Recorder writes status records through a sink.
type Recorder struct {
	sink Sink
	log  *slog.Logger
	now  func() time.Time
}

// NewRecorder returns a recorder writing to sink; log may be nil.
func NewRecorder(sink Sink, log *slog.Logger) *Recorder {
	return &Recorder{sink: sink, log: protocols.Logger(log), now: time.Now}
}

// Record stores a status record of the device and returns its seq. A
// failure is logged and returned: the caller's work goes on, and the
// stretch the record would have explained is reported as unexplained.
func (r *Recorder) Record(device string, s State, reason string) (uint64, error) {
	seq, _, err := r.sink.Ingest(device, []protocols.Sample{Sample(s, reason)}, r.now())
	if err != nil {
		r.log.Error("status record not stored", "device", device, "state", string(s), "reason", reason, "err", err)
		return 0, fmt.Errorf("status %s of %s: %w", s, device, err)
	}
	r.log.Info("status recorded", "device", device, "state", string(s), "reason", reason, "seq", seq)
	return seq, nil
}

// RecordAll stores the same state for several devices.
func (r *Recorder) RecordAll(devices []string, s State, reason string) {
	for _, d := range devices {
		_, _ = r.Record(d, s, reason)
	}
}
