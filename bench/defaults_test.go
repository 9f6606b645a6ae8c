package bench

import (
	"reflect"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/seal"
)

func TestSealDefaults(t *testing.T) {
	for _, tc := range []struct {
		interval     time.Duration
		maxReadings  int
		wantInterval time.Duration
		wantMax      int
	}{
		{0, 0, 10 * time.Second, seal.DefaultMaxReadings},
		{-time.Second, -1, 10 * time.Second, seal.DefaultMaxReadings},
		{time.Second, 500, time.Second, 500},
	} {
		i, m := sealDefaults(tc.interval, tc.maxReadings)
		if i != tc.wantInterval || m != tc.wantMax {
			t.Errorf("sealDefaults(%v, %d) = %v, %d; want %v, %d", tc.interval, tc.maxReadings, i, m, tc.wantInterval, tc.wantMax)
		}
	}
}

func TestE2EOptionsDefaults(t *testing.T) {
	for _, tc := range []struct {
		in, want E2EOptions
	}{
		{E2EOptions{Dir: "d"}, E2EOptions{Dir: "d", Duration: time.Minute, PollInterval: time.Second, SealInterval: 10 * time.Second, MaxReadings: seal.DefaultMaxReadings}},
		{E2EOptions{Duration: 5 * time.Second, PollInterval: 100 * time.Millisecond, SealInterval: time.Second, MaxReadings: 7},
			E2EOptions{Duration: 5 * time.Second, PollInterval: 100 * time.Millisecond, SealInterval: time.Second, MaxReadings: 7}},
	} {
		if got := tc.in.withDefaults(); got != tc.want {
			t.Errorf("%+v.withDefaults() = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestLoadOptionsDefaults(t *testing.T) {
	for _, tc := range []struct {
		in, want LoadOptions
	}{
		{LoadOptions{}, LoadOptions{Points: 10_000, Devices: 10, Interval: time.Second, Duration: 10 * time.Minute, Sample: time.Second, SealInterval: 10 * time.Second, MaxReadings: seal.DefaultMaxReadings}},
		// Never more devices than points.
		{LoadOptions{Points: 3, Devices: 8, Interval: time.Millisecond, Duration: time.Second, Sample: 10 * time.Millisecond, SealInterval: time.Second, MaxReadings: 2},
			LoadOptions{Points: 3, Devices: 3, Interval: time.Millisecond, Duration: time.Second, Sample: 10 * time.Millisecond, SealInterval: time.Second, MaxReadings: 2}},
	} {
		if got := tc.in.withDefaults(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%+v.withDefaults() = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestSpreadPoints(t *testing.T) {
	for _, tc := range []struct {
		points, devices int
		want            []int
	}{
		{10, 1, []int{10}},
		{10, 3, []int{4, 3, 3}},
		{11, 3, []int{4, 4, 3}},
		{3, 3, []int{1, 1, 1}},
	} {
		if got := spreadPoints(tc.points, tc.devices); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("spreadPoints(%d, %d) = %v, want %v", tc.points, tc.devices, got, tc.want)
		}
	}
}
