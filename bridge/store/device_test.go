package store

import (
	"fmt"
	"slices"
	"testing"
)

func TestDeviceReadingsMergesPointsByTime(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	commit(t, s, 1, "press", []string{"temp", "pres"}, []int64{100, 100})
	commit(t, s, 3, "press", []string{"$status"}, []int64{150})
	commit(t, s, 4, "pressX", []string{"temp"}, []int64{160}) // another device, sharing a prefix
	commit(t, s, 5, "press", []string{"temp", "pres"}, []int64{200, 200})
	commit(t, s, 7, "press", []string{"pres"}, []int64{90}) // pushed: an earlier time, a later seq

	points, err := s.DevicePoints("press")
	if err != nil || !slices.Equal(points, []string{"$status", "pres", "temp"}) {
		t.Fatalf("DevicePoints = %v, %v", points, err)
	}
	list := func(from, to int64, stopAfter int) []string {
		var out []string
		err := s.DeviceReadings("press", from, to, func(r DeviceReading) (bool, error) {
			out = append(out, fmt.Sprintf("%s@%d#%d", r.Point, r.Time, r.Seq))
			return stopAfter == 0 || len(out) < stopAfter, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	all := []string{"pres@90#7", "temp@100#1", "pres@100#2", "$status@150#3", "temp@200#5", "pres@200#6"}
	if got := list(0, 1<<62, 0); !slices.Equal(got, all) {
		t.Fatalf("all: %v, want %v", got, all)
	}
	if got := list(100, 150, 0); !slices.Equal(got, all[1:4]) {
		t.Fatalf("[100, 150]: %v, want %v", got, all[1:4])
	}
	if got := list(0, 1<<62, 2); !slices.Equal(got, all[:2]) {
		t.Fatalf("stopped after 2: %v", got)
	}
	if got := list(300, 400, 0); len(got) != 0 {
		t.Fatalf("[300, 400]: %v", got)
	}

	data := func(p string) bool { return p != "$status" }
	for _, c := range []struct {
		at   int64
		keep func(string) bool
		want string
	}{
		{89, nil, ""},
		{100, nil, "pres@100#2"},
		{199, nil, "$status@150#3"},
		{199, data, "pres@100#2"},
		{1 << 62, nil, "pres@200#6"},
	} {
		r, err := s.LastDeviceReading("press", c.at, c.keep)
		got := fmt.Sprintf("%s@%d#%d", r.Point, r.Time, r.Seq)
		if c.want == "" {
			if !IsNotFound(err) {
				t.Errorf("LastDeviceReading(%d) = %s, %v; want not found", c.at, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("LastDeviceReading(%d) = %s, %v; want %s", c.at, got, err, c.want)
		}
	}
	if _, err := s.LastDeviceReading("absent", 1<<62, nil); !IsNotFound(err) {
		t.Errorf("absent device: %v", err)
	}
}

func TestRunMark(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	if prev, err := s.MarkRunning(100); err != nil || prev != 0 {
		t.Fatalf("first run: %d, %v", prev, err)
	}
	// Not cleared: the next start sees the run that did not stop cleanly.
	if prev, err := s.MarkRunning(200); err != nil || prev != 100 {
		t.Fatalf("after an unclean stop: %d, %v; want 100", prev, err)
	}
	if err := s.ClearRunning(); err != nil {
		t.Fatal(err)
	}
	if prev, err := s.MarkRunning(300); err != nil || prev != 0 {
		t.Fatalf("after a clean stop: %d, %v", prev, err)
	}
}

func TestOldestReading(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	if _, err := s.OldestReading(); !IsNotFound(err) {
		t.Fatalf("empty store: %v", err)
	}
	commit(t, s, 1, "press", []string{"temp", "pres"}, []int64{100, 100})
	if seq, err := s.OldestReading(); err != nil || seq != 1 {
		t.Fatalf("OldestReading = %d, %v", seq, err)
	}
}
