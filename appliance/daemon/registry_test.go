package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/protocols"
	"github.com/wotchain/wotchain/protocols/protocolstest"
)

// A protocol registered by a package of its own (here a test's) is built
// by the daemon with no line of the daemon naming it: its settings with
// paths resolved, its default timeout, its state directory, and one
// constructor per run shared by the run's devices.
func TestRegisteredProtocolBuilds(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "a.yaml"), []byte(`appliance:
  id: a-1
  data_dir: data
devices:
  - id: f1
    protocol: fake
    fake: {value: 2.5, unit: bar, file: keys/f1}
  - id: f2
    protocol: fake
    timeout: 1s
    fake: {value: 4}
`))
	if err != nil {
		t.Fatal(err)
	}
	run := newSources(cfg, slog.New(slog.DiscardHandler))
	var built []*protocolstest.Source
	for _, d := range cfg.Devices {
		src, err := run.build(d)
		if err != nil {
			t.Fatalf("%s: %v", d.ID, err)
		}
		defer src.Close()
		fs, ok := src.(*protocolstest.Source)
		if !ok {
			t.Fatalf("%s: built %T", d.ID, src)
		}
		built = append(built, fs)
	}
	f1, f2 := built[0], built[1]
	if f1.Config.File != filepath.Join(dir, "keys/f1") || cfg.Devices[0].Settings.(*protocolstest.Config).File != "keys/f1" {
		t.Errorf("file %q resolved, %q in the configuration", f1.Config.File, cfg.Devices[0].Settings.(*protocolstest.Config).File)
	}
	if f1.Options.Timeout != protocolstest.DefaultTimeout || f2.Options.Timeout.String() != "1s" {
		t.Errorf("timeouts %v, %v", f1.Options.Timeout, f2.Options.Timeout)
	}
	if f1.Options.DeviceID != "f1" || f1.Options.StateDir != filepath.Join(dir, "data", "protocols", "fake") {
		t.Errorf("options %+v", f1.Options)
	}
	if f1.Run != f2.Run || f1.Run.Sources.Load() != 2 {
		t.Error("the devices of one run do not share the protocol's run state")
	}
	samples, err := f1.Poll(context.Background())
	if err != nil || len(samples) != 1 || samples[0].Value != 2.5 || samples[0].Unit != "bar" {
		t.Errorf("poll: %v %+v", err, samples)
	}

	// A second run shares nothing with the first.
	again, err := newSources(cfg, slog.New(slog.DiscardHandler)).build(cfg.Devices[0])
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.(*protocolstest.Source).Run == f1.Run {
		t.Error("two runs share the protocol's run state")
	}

	// An agent builds the same device from its own configuration.
	raw, err := agentHelloFor(cfg, cfg.Devices[0])
	if err != nil {
		t.Fatal(err)
	}
	var h agentHello
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(h.Config, []byte("fake:")) {
		t.Errorf("the agent's configuration has no fake section:\n%s", h.Config)
	}
	ac, err := config.Parse(h.ConfigPath, h.Config)
	if err != nil || !reflect.DeepEqual(ac.Devices[0], cfg.Devices[0]) {
		t.Fatalf("the agent's device: %v\n%+v\nnot\n%+v", err, ac, cfg.Devices[0])
	}
	src, err := newSource(ac, ac.Devices[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if got := src.(*protocolstest.Source).Config; got != f1.Config {
		t.Errorf("the agent builds %+v, the appliance %+v", got, f1.Config)
	}
}

// A device whose protocol is not registered is refused, naming it.
func TestUnregisteredProtocolRefused(t *testing.T) {
	cfg := &config.Config{Path: "/etc/wotchain/a.yaml"}
	d := config.Device{ID: "x", Protocol: "bacnet"}
	if _, err := newSources(cfg, nil).build(d); err == nil || !strings.Contains(err.Error(), `device x: unknown protocol "bacnet"`) {
		t.Fatalf("got %v", err)
	}
	d.Protocol = protocolstest.Name
	if _, err := newSources(cfg, nil).build(d); err == nil || !strings.Contains(err.Error(), "has no settings") {
		t.Fatalf("got %v", err)
	}
}

// The configured simulators start through the registry and say where.
func TestSimulatorsFromRegistry(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	sc := &config.Simulators{Tick: config.Duration(1e9), Listen: map[protocols.Name]string{"modbus": "127.0.0.1:0", "coap": "127.0.0.1:0"}}
	stop, err := startSimulators(context.Background(), sc, log)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	for _, want := range []string{`msg="simulated Modbus TCP device listening" component=simulator addr=127.0.0.1:`, `msg="simulated CoAP device listening" component=simulator url=coap://127.0.0.1:`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no %q in\n%s", want, logs.String())
		}
	}
}
