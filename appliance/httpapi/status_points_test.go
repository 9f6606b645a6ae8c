package httpapi

import (
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/devstatus"
	"github.com/wotchain/wotchain/bridge/poll"
)

// A device's point listing shows values only, never its status records.
func TestDevicePointsLeaveOutStatus(t *testing.T) {
	d := DeviceStatus{ID: "d", Last: []poll.PointValue{
		{Point: devstatus.Point, Value: string(devstatus.PollFailing), Time: time.Unix(2, 0)},
		{Point: "temperature", Value: 20.5, Time: time.Unix(1, 0)},
	}}
	got := toDeviceJSON(d).Points
	if len(got) != 1 || got[0].Point != "temperature" {
		t.Fatalf("points: %+v", got)
	}
}
