package opcua

import (
	"context"
	_ "embed"
	"log/slog"

	"github.com/wotchain/wotchain/protocols"
	"github.com/wotchain/wotchain/protocols/opcua/opcuasim"
)

// Name is the protocol's name in the configuration.
const Name protocols.Name = "opcua"

// sample is the README's sample device, with every option.
//
//go:embed sample.yaml
var sample []byte

func init() {
	protocols.Register(protocols.Protocol{
		Name:        Name,
		Title:       "OPC UA",
		NewSettings: func() protocols.Settings { return new(Config) },
		Sources: func() protocols.NewSource {
			return func(s protocols.Settings, opts protocols.Options) (protocols.Source, error) {
				return New(*s.(*Config), opts)
			}
		},
		DefaultTimeout: DefaultTimeout,
		// gopcua panics in goroutines of its own on some malformed
		// messages: only a process of its own contains that (see
		// protocols/isolate).
		Isolate: true,
		Simulator: protocols.Simulator{
			Start: func(ctx context.Context, addr string, log *slog.Logger) (protocols.Simulation, error) {
				s, err := opcuasim.Start(ctx, addr, log)
				if err != nil {
					return nil, err
				}
				return simulation{s}, nil
			},
			Listening: "simulated OPC UA server listening",
			AddrKey:   "endpoint",
		},
		Sample: sample,
	})
}

type simulation struct{ *opcuasim.Sim }

func (s simulation) Address() string { return s.Endpoint() }
