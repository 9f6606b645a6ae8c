package modbus

import (
	"context"
	_ "embed"
	"log/slog"

	"github.com/wotchain/wotchain/protocols"
	"github.com/wotchain/wotchain/protocols/modbus/modbussim"
)

// Name is the protocol's name in the configuration.
const Name protocols.Name = "modbus"

// sample is the README's sample device, with every option.
//
//go:embed sample.yaml
var sample []byte

func init() {
	protocols.Register(protocols.Protocol{
		Name:        Name,
		Title:       "Modbus",
		NewSettings: func() protocols.Settings { return new(Config) },
		// One Bus per run: the devices of a run on one port share its
		// connection and lock; nothing outlives the run.
		Sources: func() protocols.NewSource {
			bus := NewBus()
			return func(s protocols.Settings, opts protocols.Options) (protocols.Source, error) {
				return New(*s.(*Config), opts, WithBus(bus))
			}
		},
		DefaultTimeout: DefaultTimeout,
		NotIsolable:    "devices on one port or line share its connection and lock in the appliance",
		Simulator: protocols.Simulator{
			Start: func(_ context.Context, addr string, log *slog.Logger) (protocols.Simulation, error) {
				s, err := modbussim.Start(addr, log)
				if err != nil {
					return nil, err
				}
				return simulation{s}, nil
			},
			Listening: "simulated Modbus TCP device listening",
			AddrKey:   "addr",
		},
		Sample: sample,
	})
}

type simulation struct{ *modbussim.Sim }

func (s simulation) Address() string { return s.Addr() }

// ResolvePaths implements protocols.Settings. A Modbus section names no
// files: a serial device path in the URL is absolute.
func (c *Config) ResolvePaths(func(string) string) {}
