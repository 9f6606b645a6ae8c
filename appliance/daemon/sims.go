package daemon

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/protocols"
)

// startSimulators starts the configured in-process devices and returns a
// function that stops them.
//
// They outlive ctx until stop: the devices take a last poll after ctx ends
// (the appliance's stop), and a simulator gone by then would fail it.
func startSimulators(ctx context.Context, sc *config.Simulators, log *slog.Logger) (func(), error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var closers []func() error
	stop := func() {
		cancel()
		for _, c := range closers {
			c()
		}
	}
	if sc == nil {
		return stop, nil
	}
	log = log.With("component", "simulator")
	// The simulators' libraries log every connection at info; an operator
	// watching the demo wants the appliance's lines, so theirs start at warn.
	simLog := slog.New(minLevel{log.Handler(), slog.LevelWarn})
	for _, p := range protocols.All() {
		addr := sc.Listen[p.Name]
		if addr == "" || p.Simulator.Start == nil {
			continue
		}
		s, err := p.Simulator.Start(ctx, addr, simLog)
		if err != nil {
			stop()
			return func() {}, fmt.Errorf("%s simulator: %w", p.Title, err)
		}
		closers = append(closers, s.Close)
		go s.Run(ctx, sc.Tick.D())
		log.Info(p.Simulator.Listening, p.Simulator.AddrKey, s.Address())
	}
	return stop, nil
}

// minLevel drops records below a level before they reach the handler.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.min}
}
func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}
