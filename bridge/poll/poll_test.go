package poll

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/wotchain/wotchain/protocols"
)

type fakeSource struct {
	samples []protocols.Sample
	err     error
	polls   int
}

func (f *fakeSource) Poll(ctx context.Context) ([]protocols.Sample, error) {
	f.polls++
	return f.samples, f.err
}
func (f *fakeSource) Close() error { return nil }

type fakeSink struct {
	next  uint64
	err   error
	polls [][]protocols.Sample
}

func (s *fakeSink) Ingest(device string, samples []protocols.Sample, at time.Time) (uint64, uint64, error) {
	if s.err != nil {
		return 0, 0, s.err
	}
	s.polls = append(s.polls, samples)
	first := s.next + 1
	s.next += uint64(len(samples))
	return first, s.next, nil
}

func TestLoopHealth(t *testing.T) {
	src := &fakeSource{samples: []protocols.Sample{{Point: "a", Value: 1.0}, {Point: "b", Value: 2.0}}}
	sink := &fakeSink{}
	l := NewLoop(Device{ID: "d", Interval: time.Second, Timeout: time.Second, Source: src}, sink, slog.New(slog.DiscardHandler))
	ctx := context.Background()

	l.Once(ctx)
	h := l.Health()
	if h.Polls != 1 || h.Readings != 2 || h.Errors != 0 || h.LastGood.IsZero() || len(sink.polls) != 1 {
		t.Fatalf("after a good poll: %+v", h)
	}
	lastGood := h.LastGood

	src.err = errors.New("connection refused")
	l.Once(ctx)
	l.Once(ctx)
	h = l.Health()
	if h.Errors != 2 || h.ConsecutiveErrors != 2 || h.LastError != "connection refused" || !h.LastGood.Equal(lastGood) || h.Readings != 2 {
		t.Fatalf("after two failed polls: %+v", h)
	}

	// A store failure counts as a failed poll: nothing was acknowledged.
	src.err = nil
	sink.err = errors.New("disk full")
	l.Once(ctx)
	if h = l.Health(); h.ConsecutiveErrors != 3 || h.LastError != "disk full" || h.Readings != 2 {
		t.Fatalf("after a store failure: %+v", h)
	}

	sink.err = nil
	l.Once(ctx)
	if h = l.Health(); h.ConsecutiveErrors != 0 || h.LastError != "" || h.Readings != 4 || h.Polls != 5 {
		t.Fatalf("after recovery: %+v", h)
	}
}

func TestLoopSkipsEmptyPollsAndStopsOnCancel(t *testing.T) {
	src := &fakeSource{}
	sink := &fakeSink{}
	l := NewLoop(Device{ID: "d", Interval: 10 * time.Millisecond, Timeout: time.Second, Source: src}, sink, slog.New(slog.DiscardHandler))
	l.Once(context.Background())
	if len(sink.polls) != 0 || l.Health().Polls != 0 {
		t.Fatalf("an empty poll was ingested: %+v", l.Health())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// A device whose every value is Bad is failing: readings stored, health in error.
func TestAllBadPollIsAnError(t *testing.T) {
	src := &fakeSource{samples: []protocols.Sample{{Point: "a", Quality: protocols.Bad, Reason: "exception 2"}, {Point: "b", Quality: protocols.Bad, Reason: "exception 2"}}}
	sink := &fakeSink{}
	l := NewLoop(Device{ID: "d", Interval: time.Second, Timeout: time.Second, Source: src}, sink, slog.New(slog.DiscardHandler))
	l.Once(context.Background())
	h := l.Health()
	if len(sink.polls) != 1 || h.Readings != 2 {
		t.Fatalf("bad values were not stored: %+v", h)
	}
	if h.ConsecutiveErrors != 1 || h.Errors != 1 || !h.LastGood.IsZero() || h.LastError != "all 2 points bad: a: exception 2" {
		t.Fatalf("health after an all-bad poll: %+v", h)
	}
	src.samples[1] = protocols.Sample{Point: "b", Value: 1.0}
	l.Once(context.Background())
	if h = l.Health(); h.ConsecutiveErrors != 0 || h.LastGood.IsZero() {
		t.Fatalf("one good value should count as a good poll: %+v", h)
	}
}
