package poll

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/devstatus"
	"github.com/wotchain/wotchain/protocols"
)

// The transitions of the poll loop's stream: one record per change, none
// while nothing changes.
func TestStreamTransitions(t *testing.T) {
	t0 := time.Date(2026, 12, 8, 1, 2, 3, 0, time.UTC)
	fail := errors.New("dial tcp: connection refused")
	steps := []struct {
		err        error
		want       devstatus.State
		wantReason string
	}{
		{nil, "", ""},
		{fail, devstatus.PollFailing, "dial tcp: connection refused"},
		{fail, "", ""},
		{errors.New("i/o timeout"), "", ""},
		{nil, devstatus.Recovered, "3 failed polls since 2026-12-08T01:02:05Z"},
		{nil, "", ""},
		{fail, devstatus.PollFailing, "dial tcp: connection refused"},
		{nil, devstatus.Recovered, "1 failed poll since 2026-12-08T01:02:10Z"},
	}
	var s stream
	for i, st := range steps {
		var got devstatus.State
		var reason string
		s, got, reason = s.next(st.err, t0.Add(time.Duration(i+1)*time.Second))
		if got != st.want || reason != st.wantReason {
			t.Errorf("step %d (err %v): got %q %q, want %q %q", i, st.err, got, reason, st.want, st.wantReason)
		}
	}
}

// A device failing from its first poll is recorded as failing: the loop
// starts as not failing.
func TestStreamFailingFromTheStart(t *testing.T) {
	if _, got, _ := (stream{}).next(errors.New("down"), time.Now()); got != devstatus.PollFailing {
		t.Fatalf("first poll failed: got %q, want poll-failing", got)
	}
}

// The loop writes the status records through its sink, as polls of the
// device with the one point $status; an all-bad poll stores readings and
// is no failure of the stream; a cancelled poll records nothing.
func TestLoopRecordsStatus(t *testing.T) {
	src := &fakeSource{samples: []protocols.Sample{{Point: "a", Value: 1.0}}}
	sink := &fakeSink{}
	l := NewLoop(Device{ID: "d", Interval: time.Second, Timeout: time.Second, Source: src}, sink, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	statuses := func() []string {
		var out []string
		for _, p := range sink.polls {
			if len(p) == 1 && p[0].Point == devstatus.Point {
				out = append(out, p[0].Value.(string)+": "+p[0].Reason)
			}
		}
		return out
	}

	l.Once(ctx)
	src.err = errors.New("connection refused")
	l.Once(ctx)
	l.Once(ctx)
	src.err = nil
	src.samples = []protocols.Sample{{Point: "a", Quality: protocols.Bad, Reason: "exception 2"}}
	l.Once(ctx) // all bad: readings stored
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	src.err = errors.New("context canceled")
	l.Once(cancelled)

	got := statuses()
	if len(got) != 2 || got[0] != "poll-failing: connection refused" || got[1][:len("recovered: 2 failed polls since ")] != "recovered: 2 failed polls since " {
		t.Fatalf("status records: %q", got)
	}
	if h := l.Health(); h.Readings != 2 {
		t.Fatalf("status records counted as readings: %+v", h)
	}
	for _, p := range sink.polls {
		if p[0].Point == devstatus.Point && p[0].Quality != protocols.Good {
			t.Fatalf("status record of quality %v", p[0].Quality)
		}
	}
}
