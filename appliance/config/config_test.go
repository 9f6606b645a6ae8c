package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/seal"
)

const valid = `appliance:
  id: a-1
  data_dir: data
devices:
  - id: press-1
    protocol: modbus
    modbus:
      url: tcp://127.0.0.1:502
      points:
        - {name: t, register: holding, address: 0, type: float32}
`

func TestValidConfigGetsDefaults(t *testing.T) {
	cfg, err := Parse("/etc/wotchain/a.yaml", []byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Seal.MaxReadings != seal.DefaultMaxReadings || cfg.Seal.Interval.D() != 10*time.Second {
		t.Errorf("seal defaults: %+v", cfg.Seal)
	}
	if d := cfg.Devices[0]; d.Interval.D() != time.Second || d.Timeout.D() != 2*time.Second {
		t.Errorf("device defaults: %+v", d)
	}
	if got := cfg.Resolve(cfg.Appliance.SigningKey); got != "/etc/wotchain/data/keys/appliance.key" {
		t.Errorf("signing key resolves to %s", got)
	}
	if cfg.Storage.Kind != "filesystem" || cfg.Ledger.Kind != "embedded" {
		t.Errorf("uplink defaults: %+v %+v", cfg.Storage, cfg.Ledger)
	}
}

// Each mistake is reported with the file, the line and the key.
func TestMistakesNameFileLineAndKey(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown top-level key", valid + "sael:\n  interval: 1s\n", []string{"a.yaml:11:", "unknown key sael"}},
		{"unknown nested key", strings.Replace(valid, "      url:", "      adress: x\n      url:", 1), []string{"a.yaml:8:", "unknown key adress"}},
		{"wrong type", strings.Replace(valid, "  id: a-1\n", "  id: a-1\n  owner_kem: [1]\n", 1), []string{"a.yaml:3:", "cannot unmarshal"}},
		{"bad duration", valid + "seal:\n  interval: soon\n", []string{"a.yaml:12:", `"soon" is not a duration`}},
		{"missing required id", strings.Replace(valid, "  id: a-1\n", "", 1), []string{"a.yaml:1:", "appliance.id: required"}},
		{"missing data dir", strings.Replace(valid, "  data_dir: data\n", "", 1), []string{"a.yaml:1:", "appliance.data_dir: required"}},
		{"unknown protocol", strings.Replace(valid, "protocol: modbus", "protocol: bacnet", 1), []string{"a.yaml:6:", "devices[0].protocol", "bacnet"}},
		{"missing protocol section", strings.Replace(valid, "protocol: modbus", "protocol: coap", 1), []string{"devices[0].coap: required"}},
		{"protocol field error", strings.Replace(valid, "type: float32", "type: float128", 1), []string{"a.yaml:10:", "devices[0].modbus.points[0].type"}},
		{"reserved point name", strings.Replace(valid, "{name: t,", "{name: $status,", 1), []string{"a.yaml:10:", "devices[0].modbus.points[0].name", "reserved for the appliance's status records", `"$status"`}},
		{"reserved point name of another protocol", strings.Replace(valid, "protocol: modbus\n    modbus:\n      url: tcp://127.0.0.1:502\n      points:\n        - {name: t, register: holding, address: 0, type: float32}",
			"protocol: opcua\n    opcua:\n      endpoint: opc.tcp://127.0.0.1:4840\n      points:\n        - {name: t, node_id: \"ns=1;s=T\"}\n        - {name: $uptime, node_id: \"ns=1;s=U\"}", 1), []string{"a.yaml:11:", "devices[0].opcua.points[1].name", "reserved"}},
		{"duplicate device", valid + "  - id: press-1\n    protocol: modbus\n    modbus:\n      url: tcp://h:502\n      points: [{name: x, register: coil, address: 1}]\n", []string{"a.yaml:11:", "devices[1].id", "defined twice"}},
		{"bad log level", valid + "log:\n  level: loud\n", []string{"a.yaml:12:", "log.level"}},
		{"empty file", "", []string{"a.yaml: the file is empty"}},
		{"not yaml", "appliance: [\n", []string{"a.yaml:"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { parseFails(t, c.yaml, c.want) })
	}
}

// parseFails checks that a.yaml holding yaml is refused with an error that
// contains each of want or, for one starting with "!", does not contain the
// rest.
func parseFails(t *testing.T, yaml string, want []string) {
	t.Helper()
	_, err := Parse("a.yaml", []byte(yaml))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, w := range want {
		if not, ok := strings.CutPrefix(w, "!"); ok {
			if strings.Contains(err.Error(), not) {
				t.Errorf("error %q contains %q", err, not)
			}
		} else if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

// The shipped configurations load.
func TestShippedConfigsLoad(t *testing.T) {
	files, _ := filepath.Glob("../../configs/*.yaml")
	if len(files) < 2 {
		t.Fatalf("expected demo.yaml and example-plant.yaml, found %v", files)
	}
	for _, f := range files {
		load := Load
		if strings.HasPrefix(filepath.Base(f), "partner") {
			load = LoadView // a partner's configuration names no devices
		}
		if _, err := load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("got %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

// A partner's view needs no devices or appliance id, but stays strict.
func TestLoadViewForPartners(t *testing.T) {
	view := `storage:
  kind: filesystem
  filesystem:
    dir: objects
ledger:
  kind: fabric
  fabric:
    network_dir: fabric/.network
    msp_id: PartnerMSP
    user: User1
`
	dir := t.TempDir()
	path := filepath.Join(dir, "partner.yaml")
	if err := os.WriteFile(path, []byte(view), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadView(path); err != nil {
		t.Fatalf("partner view refused: %v", err)
	}
	if _, err := Load(path); err == nil {
		t.Fatal("a configuration without devices loaded as an appliance configuration")
	}
	if err := os.WriteFile(path, []byte(view+"sael: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadView(path); err == nil || !strings.Contains(err.Error(), "unknown key sael") {
		t.Fatalf("unknown key in a view: %v", err)
	}
	// The embedded ledger lives in an appliance's store: a view needs its data_dir.
	if err := os.WriteFile(path, []byte("ledger:\n  kind: embedded\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadView(path); err == nil || !strings.Contains(err.Error(), "appliance.data_dir: required") {
		t.Fatalf("embedded view without data_dir: %v", err)
	}
}

// configs/example-plant.yaml documents that points of one CoAP path agree
// on observe, and a point added there against the rule is refused with
// its key and the rule.
func TestExamplePlantCoAPObserveRule(t *testing.T) {
	data, err := os.ReadFile("../../configs/example-plant.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	if !strings.Contains(text, "points sharing a path must agree on observe") {
		t.Fatal("example-plant.yaml does not say that points sharing a CoAP path must agree on observe")
	}
	const observed = "          observe: true          # per point; every other point of /sensors/senml must say true too\n"
	if !strings.Contains(text, observed) {
		t.Fatal("example-plant.yaml: no observed CoAP point to add a sibling to")
	}
	bad := strings.Replace(text, observed, observed+"        - {name: voltage, path: /sensors/senml, format: senml, senml_name: \"urn:dev:ow:10e2073a01080063:voltage\"}\n", 1)
	_, err = Parse(filepath.Join(t.TempDir(), "plant.yaml"), []byte(bad))
	if err == nil {
		t.Fatal("a point polling an observed path was accepted")
	}
	for _, want := range []string{".coap.points[3].observe: is false (the device's default), but points[2] (pressure) reads the same path /sensors/senml with observe true", "observed for all of its points or for none"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// Type errors and unknown keys name the key path, found from yaml.v3's line
// in the document's nodes, never a Go type; several on one line (a flow
// mapping) are told apart by the value.
func TestDecodeErrorsNameTheKeyPath(t *testing.T) {
	const doc = `appliance:
  id: a-1
  data_dir: data
  owner_kem: [x25519]
devices:
  - id: env-1
    protocol: coap
    interval: 1s
    coap:
      url: coap://127.0.0.1
      points:
        - {name: humidity, path: /h}
        - name: co2
          path: /env
          confirm: true
  - id: press-1
    protocol: modbus
    modbus:
      url: tcp://127.0.0.1:502
      unit_id: two hundred and one
      points:
        - {name: a, register: holding, address: 0}
        - {name: b, register: holding, address: 1}
        - {name: c, register: holding, address: 2}
        - {name: d, register: holding, address: eleven, scale: 1}
`
	for _, want := range []string{
		"a.yaml:4: appliance.owner_kem: cannot unmarshal !!seq into string",
		"a.yaml:15: devices[0].coap.points[1]: unknown key confirm",
		"a.yaml:20: devices[1].modbus.unit_id: cannot unmarshal !!str `two hun...` into int",
		"a.yaml:25: devices[1].modbus.points[3].address: cannot unmarshal !!str `eleven` into uint16",
		"!coap.Point", "!modbus.Config",
	} {
		t.Run(want, func(t *testing.T) { parseFails(t, doc, []string{want}) })
	}
	// A value type of the configuration's own, refused before the rest.
	parseFails(t, valid+"seal:\n  interval: soon\n", []string{`a.yaml:12: seal.interval: "soon" is not a duration`})
	parseFails(t, valid+"budget: {on_full: pause_devices, max_bytes: lots}\n", []string{`a.yaml:11: budget.max_bytes: "lots" is not a size`})
}
