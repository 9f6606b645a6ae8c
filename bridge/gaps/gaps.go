// Package gaps finds the stretches of a device's stream without readings
// of its values and explains each from the device's status records
// (bridge/devstatus), or reports it UNEXPLAINED. It is pure: the records
// are handed to it in time order (wotchain gaps reads them from the store),
// and it keeps only the status records of the stretch it is in.
//
// A stretch is explained when the records say, from near its start to its
// end, why no readings were taken: a down state (poll-failing, paused,
// removed, stopped) recorded within Slack of the last reading covers the
// stretch until an up state (recovered, resumed, added, started) ends it;
// started-unclean covers the stretch before it back to the last reading,
// since it says the appliance was not running. A stretch any part of which
// longer than Slack is covered by no record is UNEXPLAINED, even when a
// record comes later in it: an appliance frozen (SIGSTOP, a hung host)
// records nothing while frozen, and the poll that then times out records
// poll-failing only at the end of the stretch.
package gaps

import (
	"fmt"
	"strings"
	"time"

	"github.com/wotchain/wotchain/bridge/devstatus"
)

// Record is one stored reading of the device, in the stream's time order.
type Record struct {
	Seq    uint64          `json:"seq"`
	Time   time.Time       `json:"time"`
	Status devstatus.State `json:"status,omitempty"` // empty for a reading of a value
	Reason string          `json:"reason,omitempty"`
}

// Options tune the search.
type Options struct {
	// Min is the longest stretch without readings that is no gap (the
	// CLI's default: 3 poll intervals, at least 1 s).
	Min time.Duration
	// Slack is how long after the last reading the record explaining a
	// stretch may come, and the longest part of a stretch a record need
	// not cover: the first failing poll starts within an interval and
	// fails within its timeout. 0 means Min.
	Slack time.Duration
	// From, if set, is where the stream starts being looked at: a stretch
	// before the first record starts here rather than at that record.
	From time.Time
}

// Gap is one stretch without readings longer than Min.
type Gap struct {
	From    time.Time `json:"from"`    // the last reading before it, or where the stream starts
	To      time.Time `json:"to"`      // the next reading, or where the stream was looked at last
	Ongoing bool      `json:"ongoing"` // no reading after it (yet)
	// Explained says whether the status records explain it; Reason says
	// how, or what is unexplained.
	Explained bool   `json:"explained"`
	Reason    string `json:"reason"`
	// Records are the status records in the stretch, in time order, each
	// verifiable like a reading (wotchain verify --seq).
	Records []Record `json:"records"`
}

// Length is the gap's duration.
func (g Gap) Length() time.Duration { return g.To.Sub(g.From) }

// Finder finds gaps in a stream of records given in time order.
type Finder struct {
	opts    Options
	begun   bool
	last    time.Time // the last reading of a value, or where the stream starts
	pending []Record  // status records since last
	gaps    []Gap
}

// NewFinder returns a finder; Slack 0 is Min.
func NewFinder(opts Options) *Finder {
	if opts.Slack == 0 {
		opts.Slack = opts.Min
	}
	return &Finder{opts: opts}
}

// Add takes the next record of the stream.
func (f *Finder) Add(r Record) {
	if !f.begun {
		f.begun = true
		f.last = r.Time
		if !f.opts.From.IsZero() && f.opts.From.Before(r.Time) {
			f.last = f.opts.From
		}
	}
	if r.Status != "" {
		f.pending = append(f.pending, r)
		return
	}
	f.close(r.Time, false)
	if r.Time.After(f.last) {
		f.last = r.Time
	}
}

// End closes the stream at at (the end of the window looked at, or now)
// and returns every gap found, oldest first. A stretch still open at at is
// a gap if it is already longer than Min, marked ongoing.
func (f *Finder) End(at time.Time) []Gap {
	if !f.begun {
		if f.opts.From.IsZero() || !at.After(f.opts.From) {
			return f.gaps
		}
		f.begun, f.last = true, f.opts.From
	}
	f.close(at, true)
	return f.gaps
}

// Find is NewFinder, Add for each record and End at end.
func Find(records []Record, opts Options, end time.Time) []Gap {
	f := NewFinder(opts)
	for _, r := range records {
		f.Add(r)
	}
	return f.End(end)
}

// close ends the stretch from f.last at end.
func (f *Finder) close(end time.Time, ongoing bool) {
	pending := f.pending
	f.pending = nil
	if pending == nil {
		pending = []Record{}
	}
	if end.Sub(f.last) <= f.opts.Min {
		return
	}
	g := Gap{From: f.last, To: end, Ongoing: ongoing, Records: pending}
	g.Explained, g.Reason = explain(f.last, end, pending, f.opts.Slack)
	f.gaps = append(f.gaps, g)
}

// explain walks a stretch's status records: see the package comment.
func explain(from, to time.Time, records []Record, slack time.Duration) (bool, string) {
	cover, down := from, false
	var why []string
	for _, r := range records {
		if !down && r.Time.Sub(cover) > slack && r.Status != devstatus.StartedUnclean {
			return false, unexplained(cover, r.Time, records)
		}
		switch {
		case r.Status.Down():
			if !down {
				why = append(why, describe(r))
			}
			down = true
		case r.Status == devstatus.StartedUnclean:
			why = append(why, describe(r))
			cover, down = r.Time, false
		case r.Status.Known():
			cover, down = r.Time, false
		default:
			// A state this version does not know (a later appliance's)
			// is listed in the gap and changes nothing.
		}
	}
	if !down && to.Sub(cover) > slack {
		return false, unexplained(cover, to, records)
	}
	if len(why) == 0 {
		return false, unexplained(from, to, records)
	}
	return true, strings.Join(why, "; then ")
}

func describe(r Record) string {
	if r.Reason == "" {
		return fmt.Sprintf("%s (seq %d)", r.Status, r.Seq)
	}
	return fmt.Sprintf("%s: %s (seq %d)", r.Status, r.Reason, r.Seq)
}

// unexplained says which part no record covers.
func unexplained(from, to time.Time, records []Record) string {
	msg := fmt.Sprintf("UNEXPLAINED: nothing recorded from %s to %s (%v)", stamp(from), stamp(to), to.Sub(from).Round(time.Millisecond))
	if len(records) > 0 && !records[0].Time.Before(to) {
		msg += fmt.Sprintf("; the first status record (%s, seq %d) came only then", records[0].Status, records[0].Seq)
	}
	return msg
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }
