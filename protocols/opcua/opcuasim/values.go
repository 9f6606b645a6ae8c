package opcuasim

import (
	"context"
	"math"
	"time"

	"github.com/gopcua/opcua/ua"

	"github.com/wotchain/wotchain/protocols"
)

// valueFunc serves a variable's current state. It must have the plain type
// func() *ua.DataValue: gopcua's NewVariableNode only recognises that type
// and would otherwise serve the func itself as a constant value.
func (s *Sim) valueFunc(name string) func() *ua.DataValue {
	return func() *ua.DataValue {
		s.mu.Lock()
		v := *s.vars[name]
		s.mu.Unlock()

		// Build the DataValue by hand: server.DataValueFromValue fills
		// SourceTimestamp but leaves it out of the encoding mask, so it
		// would never reach the client.
		dv := &ua.DataValue{
			Value:           v.value,
			Status:          v.status,
			SourceTimestamp: v.updated,
			ServerTimestamp: time.Now(),
		}
		dv.UpdateMask()
		return dv
	}
}

// Set replaces a variable's value; nil serves no value. v must be a type an
// OPC UA variant holds (bool, int8..int64, uint8..uint64, float32, float64,
// string, time.Time, []byte, *ua.LocalizedText, ...; a plain int is not).
// Other types, and unknown names, are logged and ignored.
func (s *Sim) Set(name string, v any) {
	var variant *ua.Variant
	if v != nil {
		var err error
		if variant, err = ua.NewVariant(v); err != nil {
			s.log.Error("opcuasim: set", "name", name, "err", err)
			return
		}
	}
	if s.update(name, func(x *variable) { x.value = variant }) {
		s.notify(name)
	}
}

// SetStatus makes a variable report code (ua.StatusOK to clear it); the
// value is kept.
func (s *Sim) SetStatus(name string, code ua.StatusCode) {
	if s.update(name, func(x *variable) { x.status = code }) {
		s.notify(name)
	}
}

// notify tells gopcua's server that variables changed, so it sends
// notifications to their monitored items: the server has no sampling of
// its own and reports a change only when told. It must run without s.mu
// held, since the server reads the new value through valueFunc.
func (s *Sim) notify(names ...string) {
	for _, name := range names {
		s.srv.ChangeNotification(ua.NewStringNodeID(s.nsIndex, name))
	}
}

func (s *Sim) update(name string, f func(*variable)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.vars[name]
	if !ok {
		s.log.Error("opcuasim: unknown variable", "name", name)
		return false
	}
	f(x)
	x.updated = time.Now()
	return true
}

// Run calls Tick every interval until ctx is done or the Sim is closed.
func (s *Sim) Run(ctx context.Context, every time.Duration) {
	protocols.TickEvery(ctx, every, s.done, s.Tick)
}

// Tick advances the demo values one step and notifies subscribers. Values
// depend only on the step count (and BurnerStarts on its previous value), so
// tests can predict them.
func (s *Sim) Tick() {
	s.tick()
	s.notify(Names()...)
}

func (s *Sim) tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.step++
	now := time.Now()
	d := demoValues(s.step)
	s.setLocked(Temperature, d.temperature, now)
	s.setLocked(Pressure, d.pressure, now)
	s.setLocked(Running, d.running, now)
	s.setLocked(Mode, "auto", now)

	starts := int32(0)
	if x := s.vars[BurnerStarts]; x.value != nil {
		starts, _ = x.value.Value().(int32) // a test may have Set another type; restart at 0
	}
	s.setLocked(BurnerStarts, starts+1, now)
}

// resetLocked sets the step-0 values.
func (s *Sim) resetLocked(now time.Time) {
	d := demoValues(0)
	s.setLocked(Temperature, d.temperature, now)
	s.setLocked(Pressure, d.pressure, now)
	s.setLocked(Running, d.running, now)
	s.setLocked(Mode, "auto", now)
	s.setLocked(BurnerStarts, int32(0), now)
}

// setLocked stores a value of a type known to be variant-compatible.
func (s *Sim) setLocked(name string, v any, now time.Time) {
	x, ok := s.vars[name]
	if !ok {
		x = &variable{}
		s.vars[name] = x
	}
	x.value = ua.MustVariant(v) // only called with float64, bool, string, int32
	x.updated = now
}

// demo holds the boiler's process values at one step.
type demo struct {
	temperature float64
	pressure    float64
	running     bool
}

// demoValues computes the values at step n: slow sine waves with a period of
// 60 steps, rounded to two decimals like a real transmitter would report.
func demoValues(n int) demo {
	phase := 2 * math.Pi * float64(n%60) / 60
	return demo{
		temperature: round2(85 + 3*math.Sin(phase)),
		pressure:    round2(2.5 + 0.2*math.Sin(phase)),
		running:     n%20 < 15,
	}
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }
