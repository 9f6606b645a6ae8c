package daemon

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/wotchain/wotchain/appliance/config"
)

// An agent must build exactly the device the appliance was configured
// with: every device of every example configuration goes through the
// agent's configuration and comes back equal, field for field.
func TestAgentConfigurationRoundTrip(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("example configurations: %v", err)
	}
	n := 0
	for _, f := range files {
		cfg, err := config.Load(f)
		if err != nil {
			continue // partner views have no devices
		}
		for _, d := range cfg.Devices {
			raw, err := agentHelloFor(cfg, d)
			if err != nil {
				t.Fatalf("%s %s: %v", f, d.ID, err)
			}
			var h agentHello
			if err := json.Unmarshal(raw, &h); err != nil {
				t.Fatal(err)
			}
			ac, err := config.Parse(h.ConfigPath, h.Config)
			if err != nil {
				t.Fatalf("%s %s: the agent refuses its configuration: %v\n%s", f, d.ID, err, h.Config)
			}
			if len(ac.Devices) != 1 || !reflect.DeepEqual(ac.Devices[0], d) {
				t.Fatalf("%s %s: the agent builds\n%+v\nnot\n%+v", f, d.ID, ac.Devices[0], d)
			}
			if ac.Resolve(ac.Appliance.DataDir) != cfg.Resolve(cfg.Appliance.DataDir) || ac.Path != cfg.Path {
				t.Fatalf("%s %s: state dir %s, want %s", f, d.ID, ac.Appliance.DataDir, cfg.Appliance.DataDir)
			}
			n++
		}
	}
	if n < 5 {
		t.Fatalf("only %d devices checked", n)
	}
}
