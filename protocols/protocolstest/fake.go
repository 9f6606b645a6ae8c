// Package protocolstest registers a fake protocol, "fake", for tests that
// show a protocol works through the configuration and the daemon by being
// registered, without a line elsewhere. Import it for its side effect from
// tests only.
package protocolstest

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/wotchain/wotchain/protocols"
)

// Name is the fake protocol's name: devices say `protocol: fake` and carry
// a `fake:` section.
const Name protocols.Name = "fake"

// DefaultTimeout is the fake protocol's default, unlike any real one's.
const DefaultTimeout = 7 * time.Second

// Config is the fake protocol's section.
type Config struct {
	Value float64 `yaml:"value"` // what every poll reads
	Unit  string  `yaml:"unit"`
	File  string  `yaml:"file"` // a path, resolved like the real protocols'
}

// Validate refuses a negative value, as a FieldError.
func (c *Config) Validate() error {
	if c.Value < 0 {
		return protocols.FieldErrorf("value", "must not be negative, got %v", c.Value)
	}
	return nil
}

// ResolvePaths resolves File.
func (c *Config) ResolvePaths(resolve func(string) string) {
	if c.File != "" {
		c.File = resolve(c.File)
	}
}

// RunState is the per-run state of the fake protocol, like Modbus's Bus:
// sources of one run share it, sources of two runs do not.
type RunState struct{ Sources atomic.Int64 }

func init() {
	protocols.Register(protocols.Protocol{
		Name:        Name,
		Title:       "Fake",
		NewSettings: func() protocols.Settings { return new(Config) },
		Sources: func() protocols.NewSource {
			run := new(RunState)
			return func(s protocols.Settings, opts protocols.Options) (protocols.Source, error) {
				c := s.(*Config)
				if err := c.Validate(); err != nil {
					return nil, err
				}
				run.Sources.Add(1)
				return &Source{Config: *c, Options: opts, Run: run}, nil
			}
		},
		DefaultTimeout: DefaultTimeout,
	})
}

// Source reads Config.Value and remembers how it was built.
type Source struct {
	Config  Config
	Options protocols.Options
	Run     *RunState // of the constructor that built it
	closed  atomic.Bool
}

// Poll returns one Good sample, "value".
func (s *Source) Poll(context.Context) ([]protocols.Sample, error) {
	if s.closed.Load() {
		return nil, errors.New("closed")
	}
	return []protocols.Sample{{Point: "value", Value: s.Config.Value, Unit: s.Config.Unit}}, nil
}

// Close closes the source.
func (s *Source) Close() error { s.closed.Store(true); return nil }
