package e2e

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/bridge/verify"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestOperatorsHTTP checks what an operator and a partner see over HTTP on
// the running appliance: health, readiness, metrics that move, the status
// page, and a proof bundle that verifies offline against the appliance key
// registered on the ledger.
func TestOperatorsHTTP(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, 30, "1s")
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + cfg.HTTP.Listen
	p := start(t, cfgPath)
	p.waitFor(t, "two anchored blocks", 60*time.Second, func(_ uint64, anchored int) bool { return anchored >= 2 })

	if code, body := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	_, metrics := get(t, base+"/metrics")
	for _, want := range []string{"wotchain_pipeline_blocks_anchored_total", `device="press-1"`, "wotchain_device_poll_duration_seconds_bucket"} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("/metrics lacks %s", want)
		}
	}
	if code, page := get(t, base+"/"); code != 200 || !strings.Contains(strings.ToLower(page), "<html") {
		t.Fatalf("status page: %d", code)
	}
	code, devices := get(t, base+"/api/devices")
	if code != 200 || !strings.Contains(devices, "boiler-1") || !strings.Contains(devices, "env-1") {
		t.Fatalf("/api/devices: %d %s", code, devices)
	}

	// A partner's proof bundle for a reading of the first block.
	_, blocks := get(t, base+"/api/blocks?limit=1")
	var page struct {
		Blocks []struct {
			ID       string `json:"id"`
			FirstSeq uint64 `json:"first_seq"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal([]byte(blocks), &page); err != nil || len(page.Blocks) == 0 {
		t.Fatalf("/api/blocks: %v\n%s", err, blocks)
	}
	b := page.Blocks[0]
	code, raw := get(t, fmt.Sprintf("%s/api/blocks/%s/proof?seq=%d", base, b.ID, b.FirstSeq))
	if code != 200 {
		t.Fatalf("proof: %d %s", code, raw)
	}
	var bundle verify.ProofBundle
	if err := json.Unmarshal([]byte(raw), &bundle); err != nil {
		t.Fatal(err)
	}
	p.stop(t)
	n := openNode(t, cfgPath)
	app, err := n.Ledger.Appliance(context.Background(), "e2e-appliance")
	if err != nil {
		t.Fatal(err)
	}
	r, err := verify.VerifyProof(&bundle, ed25519.PublicKey(app.PublicKey))
	if err != nil || r.Seq != b.FirstSeq {
		t.Fatalf("proof bundle from the running appliance does not verify: %v", err)
	}
}
