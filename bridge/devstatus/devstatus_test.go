package devstatus

import (
	"errors"
	"testing"
	"time"

	"github.com/wotchain/wotchain/protocols"
)

func TestStates(t *testing.T) {
	down := map[State]bool{PollFailing: true, Paused: true, Removed: true, Stopped: true}
	for _, s := range []State{PollFailing, Recovered, Paused, Resumed, Removed, Changed, Added, Stopped, Started, StartedUnclean} {
		if !s.Known() || s.Down() != down[s] {
			t.Errorf("%s: known %v, down %v", s, s.Known(), s.Down())
		}
	}
	if State("exploded").Known() || State("exploded").Down() {
		t.Error("an unknown state is known or down")
	}
	if !Reserved(Point) || !Reserved("$x") || Reserved("temperature") || !IsStatus(Point) || IsStatus("$x") {
		t.Error("reserved names")
	}
}

type sink struct {
	err     error
	device  string
	samples []protocols.Sample
}

func (s *sink) Ingest(device string, samples []protocols.Sample, _ time.Time) (uint64, uint64, error) {
	if s.err != nil {
		return 0, 0, s.err
	}
	s.device, s.samples = device, samples
	return 42, 42, nil
}

// A record is one good sample of $status whose value is the state; a
// failure to store it is returned.
func TestRecorder(t *testing.T) {
	s := &sink{}
	r := NewRecorder(s, nil)
	seq, err := r.Record("press-1", Paused, "disk budget \xff")
	if err != nil || seq != 42 || s.device != "press-1" || len(s.samples) != 1 {
		t.Fatalf("Record: %d, %v, %+v", seq, err, s)
	}
	got := s.samples[0]
	if got.Point != Point || got.Value != "paused" || got.Quality != protocols.Good || got.Reason != "disk budget \uFFFD" {
		t.Fatalf("sample %+v", got)
	}
	s.err = errors.New("disk full")
	if _, err := r.Record("press-1", Paused, ""); err == nil {
		t.Fatal("a failed record was not reported")
	}
}
