package isolate

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/wotchain/wotchain/protocols"
)

// Serve is the agent's side: it reads the hello from in, builds the source
// with it, and answers poll requests on out until a close request or the
// end of in (the appliance went away), then closes the source. Nothing else
// may write to out.
func Serve(ctx context.Context, in io.Reader, out io.Writer, build func(hello []byte) (protocols.Source, error)) error {
	r := bufio.NewReader(in)
	var hello []byte
	if err := readFrame(r, &hello); err != nil {
		return fmt.Errorf("agent: read hello: %w", err)
	}
	src, err := build(hello)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	defer src.Close()
	stats, _ := src.(protocols.StatsReporter)
	for {
		var req request
		if err := readFrame(r, &req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("agent: read request: %w", err)
		}
		if req.Close {
			return nil
		}
		resp := poll(ctx, src, req)
		if stats != nil {
			s := stats.Stats()
			resp.Stats = &s
		}
		if err := writeFrame(out, resp); err != nil {
			return fmt.Errorf("agent: write response: %w", err)
		}
	}
}

func poll(ctx context.Context, src protocols.Source, req request) response {
	pctx := ctx
	if req.Deadline != 0 {
		var cancel context.CancelFunc
		pctx, cancel = context.WithDeadline(ctx, time.Unix(0, req.Deadline))
		defer cancel()
	}
	resp := response{ID: req.ID}
	samples, err := src.Poll(pctx)
	if err != nil {
		resp.Err = protocols.ValidText(err.Error())
	}
	for _, s := range samples {
		w, werr := toWire(s)
		if werr != nil {
			// A Bad sample keeps the point visible rather than failing
			// the poll.
			w = wireSample{Point: w.Point, Unit: w.Unit, Quality: uint8(protocols.Bad), Reason: protocols.ValidText(werr.Error())}
		}
		resp.Samples = append(resp.Samples, w)
	}
	return resp
}
