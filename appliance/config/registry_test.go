package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/protocols"
	"github.com/wotchain/wotchain/protocols/coap"
	"github.com/wotchain/wotchain/protocols/modbus"
	"github.com/wotchain/wotchain/protocols/opcua"
	"github.com/wotchain/wotchain/protocols/protocolstest"
)

const header = "appliance:\n  id: a-1\n  data_dir: data\n"

// Each protocol's sample (its README's) loads through the loader, decodes
// into the protocol's settings type and shows every key of that type.
func TestProtocolSamplesLoad(t *testing.T) {
	for _, name := range []protocols.Name{opcua.Name, modbus.Name, coap.Name} {
		t.Run(string(name), func(t *testing.T) {
			p, ok := protocols.Lookup(name)
			if !ok {
				t.Fatal("not registered")
			}
			cfg, err := Parse("sample.yaml", []byte(header+"devices:\n"+string(p.Sample)))
			if err != nil {
				t.Fatalf("the sample does not load: %v", err)
			}
			for _, d := range cfg.Devices {
				if d.Protocol != name || reflect.TypeOf(d.Settings) != reflect.TypeOf(p.NewSettings()) {
					t.Errorf("device %s: protocol %s, settings %T", d.ID, d.Protocol, d.Settings)
				}
			}
			for _, key := range yamlKeys(reflect.TypeOf(p.NewSettings())) {
				if key == "password" { // opcua's, there to refuse inline passwords
					continue
				}
				if !strings.Contains(string(p.Sample), key+":") {
					t.Errorf("the sample does not show %s", key)
				}
			}
		})
	}
}

// yamlKeys lists the YAML keys of a settings type, nested ones included.
func yamlKeys(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t.PkgPath() == "github.com/wotchain/wotchain/internal/yamltime" {
		return nil
	}
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		keys = append(keys, name)
		keys = append(keys, yamlKeys(t.Field(i).Type)...)
	}
	return keys
}

// A device without a timeout gets its protocol's registered default.
func TestTimeoutIsTheProtocolDefault(t *testing.T) {
	cfg, err := Parse("a.yaml", []byte(header+`devices:
  - {id: m, protocol: modbus, modbus: {url: "tcp://h:502", points: [{name: x, register: coil, address: 0}]}}
  - {id: o, protocol: opcua, opcua: {endpoint: "opc.tcp://h:4840", points: [{name: x, node_id: "i=1"}]}}
  - {id: c, protocol: coap, coap: {url: "coap://h", points: [{name: x, path: /x}]}}
  - {id: f, protocol: fake, fake: {value: 1}}
  - {id: set, protocol: opcua, timeout: 1s, opcua: {endpoint: "opc.tcp://h:4840", points: [{name: x, node_id: "i=1"}]}}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{modbus.DefaultTimeout, opcua.DefaultTimeout, coap.DefaultTimeout, protocolstest.DefaultTimeout, time.Second}
	for i, d := range cfg.Devices {
		if d.Timeout.D() != want[i] {
			t.Errorf("device %s: timeout %v, want %v", d.ID, d.Timeout.D(), want[i])
		}
	}
	if opcua.DefaultTimeout != 5*time.Second || coap.DefaultTimeout != 3*time.Second || modbus.DefaultTimeout != 2*time.Second {
		t.Errorf("defaults changed: update configs/example-plant.yaml's comment on timeout")
	}
}

// Protocols are found by name only: unknown ones, sections of another
// protocol and unknown simulators are refused with file, line and key.
func TestRegistryRefusals(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown protocol", strings.Replace(valid, "protocol: modbus", "protocol: bacnet", 1),
			[]string{"a.yaml:6: devices[0].protocol: unknown protocol \"bacnet\" (coap, fake, modbus, opcua)"}},
		{"unknown protocol without timeout is refused for its name only", strings.Replace(valid, "protocol: modbus", "protocol: bacnet", 1),
			[]string{"!timeout"}},
		{"section of another protocol", strings.Replace(valid, "    modbus:\n", "    fake: {value: 1}\n    modbus:\n", 1),
			[]string{"a.yaml:7: devices[0].fake: section for fake on a modbus device"}},
		{"unknown key in a device", valid + "    colour: red\n", []string{"a.yaml:11: devices[0]: unknown key colour", "!config.Device"}},
		{"unknown simulator", valid + "simulators:\n  bacnet: 127.0.0.1:1\n", []string{"a.yaml:12: simulators: unknown key bacnet", "!config.Simulators"}},
		{"a protocol without a simulator", valid + "simulators:\n  fake: 127.0.0.1:1\n", []string{"a.yaml:12: simulators: unknown key fake"}},
		{"not isolable", strings.Replace(valid, "protocol: modbus", "protocol: modbus\n    isolate: true", 1),
			[]string{"a.yaml:7: devices[0].isolate: not for Modbus: devices on one port or line share its connection and lock in the appliance"}},
		{"missing section", strings.Replace(valid, "protocol: modbus", "protocol: fake", 1),
			[]string{"a.yaml:5: devices[0].fake: required for protocol fake", "devices[0].modbus: section for modbus on a fake device"}},
		{"registered validation", header + "devices:\n  - id: f\n    protocol: fake\n    fake:\n      value: -1\n",
			[]string{"a.yaml:8: devices[0].fake.value: must not be negative, got -1"}},
		{"strict section", header + "devices:\n  - id: f\n    protocol: fake\n    fake:\n      valeu: 1\n",
			[]string{"a.yaml:8: devices[0].fake: unknown key valeu", "!protocolstest"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { parseFails(t, c.yaml, c.want) })
	}
}

// A protocol registered by a package of its own (here a test's) loads with
// no line of config naming it: its section, defaults and isolation.
func TestRegisteredProtocolLoads(t *testing.T) {
	cfg, err := Parse("/etc/wotchain/a.yaml", []byte(header+`simulators:
  modbus: 127.0.0.1:15020
  coap: 127.0.0.1:15683
devices:
  - id: f
    protocol: fake
    fake: {value: 2.5, unit: bar, file: rel/x}
`))
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Devices[0]
	c, ok := d.Settings.(*protocolstest.Config)
	if !ok || *c != (protocolstest.Config{Value: 2.5, Unit: "bar", File: "rel/x"}) {
		t.Fatalf("settings %#v", d.Settings)
	}
	if d.Isolated() || d.Timeout.D() != protocolstest.DefaultTimeout {
		t.Errorf("isolated %v, timeout %v", d.Isolated(), d.Timeout.D())
	}
	want := map[protocols.Name]string{modbus.Name: "127.0.0.1:15020", coap.Name: "127.0.0.1:15683"}
	if !reflect.DeepEqual(cfg.Simulators.Listen, want) || cfg.Simulators.Tick.D() != time.Second {
		t.Errorf("simulators %+v", cfg.Simulators)
	}
}

// The isolation default is the protocol's.
func TestIsolationDefault(t *testing.T) {
	for _, c := range []struct {
		protocol protocols.Name
		isolate  *bool
		want     bool
	}{
		{opcua.Name, nil, true}, {coap.Name, nil, false}, {modbus.Name, nil, false},
		{opcua.Name, new(bool), false}, {"bacnet", nil, false},
	} {
		d := Device{Protocol: c.protocol, Isolate: c.isolate}
		if got := d.Isolated(); got != c.want {
			t.Errorf("%s isolate=%v: Isolated() = %v", c.protocol, fmt.Sprint(c.isolate != nil), got)
		}
	}
}
