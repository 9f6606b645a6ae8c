package coap

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/plgd-dev/go-coap/v3/udp/client"

	"github.com/wotchain/wotchain/protocols"
)

// Poll reads the device once. Polled resources are fetched with one GET
// each, concurrently (go-coap keeps to NSTART=1 unacknowledged request, as
// RFC 7252 asks). Observed resources are registered when they are not, or
// no longer, observed, and the notifications received since the last Poll
// are drained. Samples come grouped by point in configuration order; a
// point's samples are in arrival order.
func (s *Source) Poll(ctx context.Context) ([]protocols.Sample, error) {
	s.pollMu.Lock()
	defer s.pollMu.Unlock()

	start := time.Now()
	conn, dialErr := s.connection(ctx)
	if dialErr != nil && s.isClosed() {
		return nil, dialErr
	}
	// answers[i] is the outcome of resource i's request this poll; nil when
	// none was needed or the answer went to the observation's buffer.
	answers := make([]*response, len(s.resources))
	requests, deregistrations := 0, 0
	var wg sync.WaitGroup
	for i := range s.resources {
		r := &s.resources[i]
		why := ""
		if r.obs != nil {
			if why = r.obs.staleness(conn, start, s.observeLimit); why == "" {
				continue // healthy: its notifications are in the buffer
			}
		}
		requests++
		switch {
		case dialErr != nil:
			answers[i] = &response{err: dialErr}
		case r.obs == nil:
			wg.Go(func() {
				a := fetch(ctx, conn, r.path, s.confirmable, s.timeout)
				answers[i] = &a
			})
		default:
			deregistrations += s.deregister(r.obs, conn)
			wg.Go(func() {
				if err := s.register(ctx, conn, r.obs, why); err != nil {
					answers[i] = &response{err: err}
				}
			})
		}
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		// Notifications stay buffered for the next Poll.
		s.recordStats(requests+deregistrations, conn != nil)
		return nil, fmt.Errorf("coap device %q: poll aborted: %w", s.device, err)
	}

	var failures []error
	for _, a := range answers {
		if a != nil && a.err != nil {
			failures = append(failures, a.err)
		}
	}
	unreachable := requests > 0 && len(failures) == requests
	samples, drained := s.assemble(answers, start)
	if unreachable && conn != nil {
		// The socket or the device is gone; start afresh next time rather
		// than reuse a connection go-coap may have given up on.
		s.drop(conn)
	}
	s.recordStats(requests+deregistrations, !unreachable)
	if unreachable && drained == 0 {
		if dialErr != nil {
			return nil, dialErr
		}
		s.log.Warn("device unreachable", "err", failures[0])
		// The first failure is representative (they share the socket); one
		// line keeps the log readable.
		return nil, fmt.Errorf("coap device %q at %s: no resource answered (%d requests failed), first: %w",
			s.device, s.addr, len(failures), failures[0])
	}
	return samples, nil
}

// assemble turns this poll's answers and the drained notifications into
// samples, grouped by point in configuration order. It returns how many
// notifications were drained.
func (s *Source) assemble(answers []*response, now time.Time) ([]protocols.Sample, int) {
	perPoint := make([][]protocols.Sample, len(s.points))
	drained := 0
	for i, r := range s.resources {
		var notes []response
		var lost loss
		if r.obs != nil {
			notes, lost = r.obs.buf.drain()
			drained += len(notes)
			if lost.count > 0 {
				s.log.Warn("observe buffer full, notifications lost", "path", r.path,
					"lost", lost.count, "capacity", s.obsCapacity)
			}
		}
		verb := "GET"
		if r.obs != nil {
			verb = "observe"
		}
		for _, pi := range r.points {
			p := s.points[pi]
			if lost.count > 0 {
				perPoint[pi] = append(perPoint[pi], lossSample(p, r.path, lost, s.obsCapacity))
			}
			for _, n := range notes {
				perPoint[pi] = append(perPoint[pi], pointSamples(p, "observe", r.path, n, now)...)
			}
			if a := answers[i]; a != nil {
				perPoint[pi] = append(perPoint[pi], pointSamples(p, verb, r.path, *a, now)...)
			}
		}
	}
	var out []protocols.Sample
	for _, ss := range perPoint {
		out = append(out, ss...)
	}
	return out, drained
}

// observeLimit is the longest silence an observation may keep before it
// is registered again.
func (s *Source) observeLimit(maxAge time.Duration) time.Duration {
	if s.obsTimeout > 0 {
		return s.obsTimeout
	}
	return maxAge + s.timeout
}

// register (re-)registers one observation and logs changes of its state.
func (s *Source) register(ctx context.Context, conn *client.Conn, o *observation, why string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	wasAccepted := o.accepted
	err := o.register(ctx, conn, s.confirmable)
	state := "observing"
	switch {
	case err != nil:
		state = "failed"
		s.log.Debug("observe registration failed", "path", o.path, "reason", why, "err", err)
	case o.accepted && wasAccepted:
		s.log.Info("observation registered again", "path", o.path, "reason", why)
	case o.accepted:
		s.log.Debug("observation registered", "path", o.path)
	default:
		state = "refused"
		if o.lastState != state {
			s.log.Info("resource refused Observe (answered without Observe or with an error); "+
				"it is registered again on every poll", "path", o.path)
		}
	}
	o.lastState = state
	return err
}

// deregister tells the device to stop notifying a replaced observation
// (GET with Observe: 1) in the background, so the poll does not wait for
// it. It returns the number of requests sent (0 or 1).
func (s *Source) deregister(o *observation, conn *client.Conn) int {
	old := o.handle
	if old == nil || o.conn != conn || conn.Context().Err() != nil || old.Canceled() {
		return 0
	}
	o.handle = nil
	s.background.Go(func() {
		ctx, cancel := context.WithTimeout(conn.Context(), s.timeout)
		defer cancel()
		if err := old.Cancel(ctx); err != nil {
			s.log.Debug("deregistering observation", "path", o.path, "err", err)
		}
	})
	return 1
}

// recordStats updates the statistics after a poll.
func (s *Source) recordStats(requests int, answered bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.RequestsLastPoll = requests
	s.stats.RequestsTotal += uint64(requests)
	s.stats.Connected = answered && s.conn != nil && s.conn.Context().Err() == nil
}

func (s *Source) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
