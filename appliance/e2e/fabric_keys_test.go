package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/keys"
)

// TestFabricKeyRotation rotates an appliance's key on Fabric: refused
// without the manufacturer admin (and nothing changed), then done by the
// admin after the appliance was killed with readings not yet sealed.
// Readings from before and after verify against Fabric, and the
// provenance shows both keys.
func TestFabricKeyRotation(t *testing.T) {
	since := time.Now().Add(-time.Minute)
	dir := t.TempDir()
	startFabric(t, filepath.Join(dir, "fabric"))
	cfgPath := writeConfig(t, dir, 30, "1s", `ledger:
  kind: fabric
  fabric:
    network_dir: fabric
    msp_id: ManufacturerMSP
    user: User1
`)
	p := start(t, cfgPath)
	p.waitFor(t, "readings", 60*time.Second, func(a uint64, _ int) bool { return a > 30 })
	mustCLI(t, "register", "--config", cfgPath)
	p.waitFor(t, "blocks anchored on Fabric", 120*time.Second, func(_ uint64, anchored int) bool { return anchored >= 3 })
	p.kill(t)

	signPath := filepath.Join(dir, "data", "keys", "appliance.key")
	before, err := os.ReadFile(signPath)
	if err != nil {
		t.Fatal(err)
	}
	out, code := runCLI(t, "rotate-key", "--config", cfgPath, "--as", "User1")
	if code == 0 || !strings.Contains(out, "not an admin") {
		t.Fatalf("rotate-key as a client, not an admin: exit %d\n%s", code, out)
	}
	if after, _ := os.ReadFile(signPath); string(after) != string(before) {
		t.Fatal("a refused rotation changed the key file")
	}
	if _, err := os.Stat(keys.PendingPath(signPath)); !os.IsNotExist(err) {
		t.Fatalf("a refused rotation left a pending key: %v", err)
	}

	r := rotateKey(t, cfgPath)
	if _, err := os.Stat(keys.RetiredPath(signPath, r.oldID)); err != nil {
		t.Fatalf("old key not retired: %v", err)
	}
	runRotated(t, cfgPath, r, since, 120*time.Second)
}
