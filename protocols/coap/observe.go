package coap

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/udp/client"
)

// observeHandle is go-coap's handle on a registered observation.
type observeHandle interface {
	Cancel(ctx context.Context, opts ...message.Option) error
	Canceled() bool
}

// observation keeps one resource's Observe relationship (RFC 7641) across
// polls. The buffer outlives registrations, so a notification received just
// before a re-registration is still delivered.
type observation struct {
	path string
	buf  *noteBuffer

	// Owned by Poll, which is serialised.
	handle    observeHandle
	conn      *client.Conn // the connection handle was registered on
	accepted  bool         // the device answered the last registration with Observe
	lastState string       // last logged state, so changes are logged once
}

func newObservation(path string, capacity int) *observation {
	return &observation{path: path, buf: newNoteBuffer(capacity)}
}

// staleness says why the observation must be registered (again) before
// this poll, or "" when it is healthy. limit maps the last Max-Age to the
// longest silence tolerated.
func (o *observation) staleness(conn *client.Conn, now time.Time, limit func(maxAge time.Duration) time.Duration) string {
	switch {
	case o.handle == nil:
		return "not registered"
	case o.conn != conn:
		return "connection replaced"
	case o.handle.Canceled():
		if o.accepted {
			return "ended by the device"
		}
		return "resource is not observable"
	}
	last, maxAge := o.buf.heard()
	if silent := now.Sub(last); silent > limit(maxAge) {
		return fmt.Sprintf("no notification for %v", silent.Round(time.Millisecond))
	}
	return ""
}

// register sends the Observe registration (GET with Observe: 0). The
// device's answer, even an error code, lands in the buffer like any
// notification, so Poll reports it as a sample. It returns an error only
// when no answer came (timeout, connection lost).
func (o *observation) register(ctx context.Context, conn *client.Conn, confirmable bool) error {
	req, err := conn.NewObserveRequest(ctx, o.path)
	if err != nil {
		return fmt.Errorf("observe %s: %w", o.path, err)
	}
	if !confirmable {
		req.SetType(message.NonConfirmable)
	}
	// go-coap hands the registration response to the callback just after
	// DoObserve returns; answered lets register wait for it so the first
	// value is in the buffer before Poll drains it.
	answered := make(chan struct{})
	var once sync.Once
	handle, err := conn.DoObserve(req, func(m *pool.Message) {
		o.buf.push(readResponse(m, time.Now()))
		once.Do(func() { close(answered) })
	})
	conn.ReleaseMessage(req)
	// Wait for the callback. After success it is running right now (the
	// timer only guards against a change in go-coap); after an error code
	// it also runs, since go-coap reports the code as an error and still
	// delivers the response.
	waitCtx := ctx
	if err == nil {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(context.Background(), time.Second)
		defer cancel()
	}
	select {
	case <-answered:
	case <-waitCtx.Done():
	case <-conn.Context().Done():
	}
	o.conn = conn
	o.buf.touch(time.Now())
	select {
	case <-answered:
		// After an error code or an answer without Observe the handle is
		// nil or cancelled, and the next Poll registers again.
		if err != nil {
			handle = nil // go-coap returns a typed nil inside the interface
		}
		o.handle = handle
		o.accepted = handle != nil && !handle.Canceled()
		return nil
	default:
	}
	o.handle, o.accepted = nil, false
	switch {
	case err == nil:
		err = errors.New("registration answered but no response was delivered")
	case ctx.Err() != nil:
		err = fmt.Errorf("no response within the timeout: %w", ctx.Err())
	}
	return fmt.Errorf("observe %s: %w", o.path, err)
}
