package coap

import (
	"context"
	_ "embed"
	"log/slog"

	"github.com/wotchain/wotchain/protocols"
	"github.com/wotchain/wotchain/protocols/coap/coapsim"
)

// Name is the protocol's name in the configuration.
const Name protocols.Name = "coap"

// sample is the README's sample device, with every option.
//
//go:embed sample.yaml
var sample []byte

func init() {
	protocols.Register(protocols.Protocol{
		Name:        Name,
		Title:       "CoAP",
		NewSettings: func() protocols.Settings { return new(Config) },
		Sources: func() protocols.NewSource {
			return func(s protocols.Settings, opts protocols.Options) (protocols.Source, error) {
				return New(*s.(*Config), opts)
			}
		},
		DefaultTimeout: DefaultTimeout,
		// In the appliance's process unless a device sets isolate: true.
		Isolate: false,
		Simulator: protocols.Simulator{
			Start: func(_ context.Context, addr string, log *slog.Logger) (protocols.Simulation, error) {
				s, err := coapsim.Start(addr, log)
				if err != nil {
					return nil, err
				}
				return simulation{s}, nil
			},
			Listening: "simulated CoAP device listening",
			AddrKey:   "url",
		},
		Sample: sample,
	})
}

type simulation struct{ *coapsim.Sim }

func (s simulation) Address() string { return s.URL() }
