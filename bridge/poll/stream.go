package poll

import (
	"fmt"
	"time"

	"github.com/wotchain/wotchain/bridge/devstatus"
)

// stream is what a loop remembers for its status records: whether its
// polls are failing, since when and how many. A poll fails when it stores
// nothing (the device did not answer, or the store refused the poll); a
// poll whose every value is Bad stores those readings, which say why
// themselves, so it does not. A new loop starts as not failing, so a
// device that fails from its first poll on is recorded as failing too.
type stream struct {
	failing  bool
	failures uint64
	since    time.Time // first failure of the run of failures
}

// next is the stream after a poll that ended at now with err (nil: its
// readings are stored), and the status record the change calls for: none
// ("") while nothing changes.
func (s stream) next(err error, now time.Time) (stream, devstatus.State, string) {
	switch {
	case err != nil && !s.failing:
		return stream{failing: true, failures: 1, since: now}, devstatus.PollFailing, err.Error()
	case err != nil:
		s.failures++
		return s, "", ""
	case s.failing:
		polls := "polls"
		if s.failures == 1 {
			polls = "poll"
		}
		reason := fmt.Sprintf("%d failed %s since %s", s.failures, polls, s.since.UTC().Format(time.RFC3339Nano))
		return stream{}, devstatus.Recovered, reason
	}
	return s, "", ""
}
