package coap

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/udp/client"
)

// response is what one GET or notification produced, detached from
// go-coap's pooled message.
type response struct {
	err       error // transport failure or timeout: there was no answer
	code      codes.Code
	format    message.MediaType
	hasFormat bool
	payload   []byte
	bodyErr   error
	maxAge    time.Duration // Max-Age option, defaultMaxAge when absent
	received  time.Time     // set for notifications; zero for polled answers
}

// fetch performs one GET (blockwise transfers are reassembled by go-coap)
// with the per-request timeout.
func fetch(ctx context.Context, conn *client.Conn, path string, confirmable bool, timeout time.Duration) response {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := conn.NewGetRequest(ctx, path)
	if err != nil {
		return response{err: fmt.Errorf("GET %s: %w", path, err)}
	}
	defer conn.ReleaseMessage(req)
	if !confirmable {
		req.SetType(message.NonConfirmable)
	}
	resp, err := conn.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no response within %v: %w", timeout, context.DeadlineExceeded)
		}
		return response{err: fmt.Errorf("GET %s: %w", path, err)}
	}
	defer conn.ReleaseMessage(resp)
	return readResponse(resp, time.Time{})
}

// readResponse copies what decoding needs out of a pooled message, which
// go-coap reuses once the handler returns.
func readResponse(m *pool.Message, received time.Time) response {
	r := response{code: m.Code(), received: received, maxAge: defaultMaxAge}
	if cf, err := m.ContentFormat(); err == nil {
		r.format, r.hasFormat = cf, true
	}
	if age, err := m.Options().GetUint32(message.MaxAge); err == nil {
		r.maxAge = time.Duration(age) * time.Second
	}
	if m.Body() != nil {
		r.payload, r.bodyErr = m.ReadBody()
	}
	return r
}
