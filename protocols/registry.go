package protocols

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"time"
)

// Name names a protocol: the value of a device's `protocol:` key and the
// key of its section (`modbus:`), of its simulator under `simulators:`, and
// of its state directory.
type Name string

// Settings is a protocol's configuration section of one device (for
// example *modbus.Config), decoded strictly from the section named after
// the protocol.
type Settings interface {
	// Validate returns every mistake, each a *FieldError naming its key
	// relative to the section, joined with errors.Join.
	Validate() error
	// ResolvePaths rewrites the section's file paths with resolve, which
	// makes a path relative to the configuration file absolute.
	ResolvePaths(resolve func(string) string)
}

// NewSource builds one device's source from its section and the common
// options. Sources built by one NewSource share the protocol's state for
// one appliance run.
type NewSource func(s Settings, opts Options) (Source, error)

// Protocol is what a protocol package registers in its init function, so
// that the configuration, the daemon and the demo find it by name and
// adding a protocol touches its own folder and one import line in
// protocols/all.
type Protocol struct {
	Name  Name
	Title string // for people: "OPC UA", "Modbus", "CoAP"
	// NewSettings returns an empty section to decode into: a pointer
	// whose type names the section in error messages.
	NewSettings func() Settings
	// Sources returns the constructor for one appliance run. State that
	// the devices of a run share (Modbus: one connection and lock per
	// port) lives in what it returns, never in a package variable, so two
	// runs in one process (tests, an agent) share nothing.
	Sources func() NewSource
	// DefaultTimeout bounds one request when the device sets no timeout.
	DefaultTimeout time.Duration
	// Isolate says whether a device runs in an agent process unless its
	// configuration says otherwise.
	Isolate bool
	// NotIsolable, when set, says why the protocol's devices cannot run in
	// an agent; isolate: true is then refused with this reason.
	NotIsolable string
	// Simulator is the in-process simulated device of the demo and tests.
	Simulator Simulator
	// Sample is the protocol's sample configuration (its README's): one
	// device of an appliance configuration using every option. A test
	// loads it through the configuration loader.
	Sample []byte
}

// Simulator starts a simulated device of the protocol.
type Simulator struct {
	// Start listens on addr (host:port; port 0 picks a free one). The
	// simulation serves until Close, or until ctx ends.
	Start func(ctx context.Context, addr string, log *slog.Logger) (Simulation, error)
	// Listening is the log message once it listens, with its Address
	// under AddrKey.
	Listening, AddrKey string
}

// Simulation is a running simulated device.
type Simulation interface {
	// Run changes the simulated values every tick until ctx ends.
	Run(ctx context.Context, every time.Duration)
	// Address is what a device's section names to reach it (a host:port,
	// an endpoint or a URL).
	Address() string
	Close() error
}

// TickEvery calls tick every interval until ctx ends or stop is closed (a nil
// stop never is): the loop behind each simulator's Run.
func TickEvery(ctx context.Context, every time.Duration, stop <-chan struct{}, tick func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-t.C:
			tick()
		}
	}
}

// The registry is written by init functions only (the one accepted kind of
// global state) and read afterwards; the lock keeps a registration from a
// test's init safe all the same.
var (
	regMu    sync.RWMutex
	registry = map[Name]*Protocol{}
)

// Register adds a protocol. It panics on a missing part or a second
// registration of a name: both are programming errors found at start-up.
func Register(p Protocol) {
	if err := p.check(); err != nil {
		panic("protocols: " + err.Error())
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[p.Name]; dup {
		panic(fmt.Sprintf("protocols: %s registered twice", p.Name))
	}
	registry[p.Name] = &p
}

// check reports the first part a registration lacks. The simulator and the
// sample are optional for a protocol registered by a test.
func (p *Protocol) check() error {
	switch {
	case p.Name == "":
		return fmt.Errorf("a protocol without a name")
	case p.Title == "":
		return fmt.Errorf("%s: no title", p.Name)
	case p.NewSettings == nil:
		return fmt.Errorf("%s: no settings type", p.Name)
	case !isStructPointer(p.NewSettings()):
		return fmt.Errorf("%s: settings must be a pointer to a struct, not %T", p.Name, p.NewSettings())
	case p.Sources == nil:
		return fmt.Errorf("%s: no constructor", p.Name)
	case p.DefaultTimeout <= 0:
		return fmt.Errorf("%s: no default timeout", p.Name)
	case p.Isolate && p.NotIsolable != "":
		return fmt.Errorf("%s: isolated by default but not isolable", p.Name)
	case p.Simulator.Start != nil && (p.Simulator.Listening == "" || p.Simulator.AddrKey == ""):
		return fmt.Errorf("%s: a simulator without its log message", p.Name)
	}
	return nil
}

// Lookup returns the protocol registered under name.
func Lookup(name Name) (*Protocol, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	p, ok := registry[name]
	return p, ok
}

// All returns every registered protocol, sorted by name.
func All() []*Protocol {
	regMu.RLock()
	defer regMu.RUnlock()
	all := make([]*Protocol, 0, len(registry))
	for _, p := range registry {
		all = append(all, p)
	}
	slices.SortFunc(all, func(a, b *Protocol) int { return cmp.Compare(a.Name, b.Name) })
	return all
}

// Logger is the one rule for a nil logger in every protocol package:
// nothing is logged.
func Logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

func isStructPointer(s Settings) bool {
	t := reflect.TypeOf(s)
	return t != nil && t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct && !reflect.ValueOf(s).IsNil()
}

// Resolved returns a copy of s (a pointer to a struct, as registered) with
// its paths resolved; s itself keeps them as written.
func Resolved(s Settings, resolve func(string) string) Settings {
	v := reflect.New(reflect.TypeOf(s).Elem())
	v.Elem().Set(reflect.ValueOf(s).Elem())
	c := v.Interface().(Settings)
	c.ResolvePaths(resolve)
	return c
}
