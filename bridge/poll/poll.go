// Package poll runs one loop per device: poll the source on its interval,
// hand the samples to the sink (ingest), and keep the device's health. A
// failing device only affects its own loop.
package poll

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/wotchain/wotchain/bridge/devstatus"
	"github.com/wotchain/wotchain/protocols"
)

// Sink durably takes one poll's samples.
type Sink interface {
	Ingest(deviceID string, samples []protocols.Sample, at time.Time) (first, last uint64, err error)
}

// Device is one configured device.
type Device struct {
	ID       string
	Interval time.Duration
	Timeout  time.Duration // whole poll, on top of the protocol's per-request timeout
	Source   protocols.Source
}

// Health is a device's state as operators see it.
type Health struct {
	Polls             uint64
	Errors            uint64
	ConsecutiveErrors uint64
	Readings          uint64
	LastGood          time.Time
	LastError         string
	LastDuration      time.Duration
}

// Loop polls one device until its context ends.
type Loop struct {
	dev  Device
	sink Sink
	log  *slog.Logger

	// Observe, if set before Run, is told the duration and outcome of
	// every poll (for the metrics' latency histogram).
	Observe func(device string, took time.Duration, err error)

	mu     sync.Mutex
	health Health
	stream stream
}

// NewLoop returns a loop for dev.
func NewLoop(dev Device, sink Sink, log *slog.Logger) *Loop {
	return &Loop{dev: dev, sink: sink, log: log.With("device", dev.ID)}
}

// Health returns a snapshot of the device's health.
func (l *Loop) Health() Health {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.health
}

// Run polls on the device's interval. Polls are not caught up after a slow
// one: the next poll is on the next tick, so a slow device never bursts.
func (l *Loop) Run(ctx context.Context) {
	t := time.NewTicker(l.dev.Interval)
	defer t.Stop()
	for {
		l.Once(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Once performs one poll and ingests its samples. The first failed poll
// after good ones, and the first good one after failures, are recorded as
// status records of the device (see stream).
func (l *Loop) Once(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, l.dev.Timeout)
	defer cancel()
	start := time.Now()
	samples, err := l.dev.Source.Poll(pctx)
	took := time.Since(start)
	if ctx.Err() != nil {
		return
	}
	if err == nil && len(samples) == 0 {
		return
	}
	var first, last uint64
	if err == nil {
		first, last, err = l.sink.Ingest(l.dev.ID, samples, time.Now())
	}
	if l.Observe != nil {
		l.Observe(l.dev.ID, took, err)
	}
	state, reason := l.account(samples, first, last, took, err)
	if state != "" {
		l.recordStatus(state, reason)
	}
}

// account updates the health with a poll's outcome and returns the status
// record it calls for, if any.
func (l *Loop) account(samples []protocols.Sample, first, last uint64, took time.Duration, err error) (devstatus.State, string) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var state devstatus.State
	var reason string
	l.stream, state, reason = l.stream.next(err, now)
	l.health.Polls++
	l.health.LastDuration = took
	if err != nil {
		l.health.Errors++
		l.health.ConsecutiveErrors++
		l.health.LastError = err.Error()
		// Log the first failure and then every 10th, so a dead device
		// does not flood the log.
		if l.health.ConsecutiveErrors == 1 || l.health.ConsecutiveErrors%10 == 0 {
			l.log.Warn("poll failed", "err", err, "consecutive", l.health.ConsecutiveErrors)
		}
		return state, reason
	}
	l.health.Readings += last - first + 1
	// A device that answers but whose every value is Bad (garbage, every
	// point refused) is failing too: its Bad readings are stored as
	// evidence, and its health says so.
	if why, allBad := allBad(samples); allBad {
		l.health.Errors++
		l.health.ConsecutiveErrors++
		l.health.LastError = why
		if l.health.ConsecutiveErrors == 1 || l.health.ConsecutiveErrors%10 == 0 {
			l.log.Warn("every value of the poll is bad", "reason", why, "consecutive", l.health.ConsecutiveErrors)
		}
		return state, reason
	}
	if l.health.ConsecutiveErrors > 0 {
		l.log.Info("device recovered", "after_errors", l.health.ConsecutiveErrors)
	}
	l.health.ConsecutiveErrors = 0
	l.health.LastError = ""
	l.health.LastGood = now
	l.log.Debug("poll stored", "seq_first", first, "seq_last", last, "took", took)
	return state, reason
}

// recordStatus stores a status record of the device through the loop's
// sink. A failure is logged: polling goes on.
func (l *Loop) recordStatus(state devstatus.State, reason string) {
	seq, _, err := l.sink.Ingest(l.dev.ID, []protocols.Sample{devstatus.Sample(state, reason)}, time.Now())
	if err != nil {
		l.log.Error("status record not stored", "state", string(state), "err", err)
		return
	}
	l.log.Info("status recorded", "state", string(state), "reason", reason, "seq", seq)
}

// allBad reports whether every sample is Bad, with the first reason.
func allBad(samples []protocols.Sample) (string, bool) {
	for _, s := range samples {
		if s.Quality != protocols.Bad {
			return "", false
		}
	}
	return fmt.Sprintf("all %d points bad: %s: %s", len(samples), samples[0].Point, samples[0].Reason), true
}
