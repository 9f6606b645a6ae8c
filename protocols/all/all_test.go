package all_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/protocols"
	_ "github.com/wotchain/wotchain/protocols/all"
	"github.com/wotchain/wotchain/protocols/coap"
	"github.com/wotchain/wotchain/protocols/modbus"
	"github.com/wotchain/wotchain/protocols/opcua"
)

// Every protocol of the appliance is registered with every part, and its
// README shows its sample as it is embedded.
func TestEveryProtocolHasAllParts(t *testing.T) {
	all := protocols.All()
	var names []string
	for _, p := range all {
		names = append(names, string(p.Name))
	}
	if strings.Join(names, " ") != "coap modbus opcua" {
		t.Fatalf("registered: %v", names)
	}
	for _, p := range all {
		t.Run(string(p.Name), func(t *testing.T) {
			if p.Title == "" || p.NewSettings == nil || p.Sources == nil || p.Sources() == nil || p.DefaultTimeout <= 0 {
				t.Errorf("incomplete: %+v", p)
			}
			if p.Simulator.Start == nil || p.Simulator.Listening == "" || p.Simulator.AddrKey == "" {
				t.Errorf("no simulator")
			}
			if _, ok := p.NewSettings().(protocols.NamedPoints); !ok {
				t.Errorf("settings %T do not list their point names (protocols.NamedPoints)", p.NewSettings())
			}
			if len(p.Sample) == 0 {
				t.Fatal("no sample")
			}
			readme, err := os.ReadFile(filepath.Join("..", string(p.Name), "README.md"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(readme), "```yaml\n"+string(p.Sample)+"```\n") {
				t.Errorf("README.md does not show sample.yaml as it is")
			}
		})
	}
}

// The registered defaults are the packages' own.
func TestRegisteredDefaults(t *testing.T) {
	for _, c := range []struct {
		name        protocols.Name
		timeout     time.Duration
		isolate     bool
		notIsolable bool
	}{
		{opcua.Name, opcua.DefaultTimeout, true, false},
		{coap.Name, coap.DefaultTimeout, false, false},
		{modbus.Name, modbus.DefaultTimeout, false, true},
	} {
		p, ok := protocols.Lookup(c.name)
		if !ok || p.DefaultTimeout != c.timeout || p.Isolate != c.isolate || (p.NotIsolable != "") != c.notIsolable {
			t.Errorf("%s: %+v", c.name, p)
		}
	}
}

// Each simulator starts on a free port, says where, and stops.
func TestSimulatorsStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, p := range protocols.All() {
		s, err := p.Simulator.Start(ctx, "127.0.0.1:0", nil)
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		if a := s.Address(); !strings.Contains(a, "127.0.0.1:") || strings.HasSuffix(a, ":0") {
			t.Errorf("%s: address %q", p.Name, a)
		}
		go s.Run(ctx, 10*time.Millisecond)
		if err := s.Close(); err != nil {
			t.Errorf("%s: close: %v", p.Name, err)
		}
	}
}

// A registration without a part is refused at once.
func TestIncompleteRegistrationPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("a protocol without a constructor was registered")
		}
	}()
	protocols.Register(protocols.Protocol{Name: "broken", Title: "Broken", NewSettings: func() protocols.Settings { return new(modbus.Config) }, DefaultTimeout: time.Second})
}

// A name is registered once.
func TestDuplicateRegistrationPanics(t *testing.T) {
	p, _ := protocols.Lookup(modbus.Name)
	defer func() {
		if recover() == nil {
			t.Fatal("modbus registered twice")
		}
	}()
	protocols.Register(*p)
}
