package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/fabric/network"
	"github.com/wotchain/wotchain/internal/testserver"
)

// outage is how long each uplink stays down: seconds in CI,
// WOTCHAIN_E2E_OUTAGE=3m for the long form.
func outage(t *testing.T) time.Duration {
	if v := os.Getenv("WOTCHAIN_E2E_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("WOTCHAIN_E2E_OUTAGE: %v", err)
		}
		return d
	}
	return 8 * time.Second
}

// freezePeers stops (SIGSTOP) or resumes (SIGCONT) the Fabric peers: to
// the appliance the ledger is down, unanswering, as after a network cut.
func freezePeers(t *testing.T, dir string, sig syscall.Signal) {
	t.Helper()
	procs, err := network.Status(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range procs {
		if strings.HasPrefix(p.Name, "peer") && p.Running {
			if err := syscall.Kill(p.PID, sig); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	if n != 2 {
		t.Fatalf("signalled %d peers, want 2", n)
	}
}

var (
	outboxDepth    = regexp.MustCompile(`(?m)^wotchain_pipeline_outbox_depth (\d+)`)
	blocksUploaded = regexp.MustCompile(`(?m)^wotchain_pipeline_blocks_uploaded_total (\d+)`)
	blocksAnchored = regexp.MustCompile(`(?m)^wotchain_pipeline_blocks_anchored_total (\d+)`)
)

func metricValue(t *testing.T, url string, re *regexp.Regexp) int {
	t.Helper()
	_, body := get(t, url)
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("metric %s not found", re)
	}
	v, _ := strconv.Atoi(m[1])
	return v
}

// TestUplinksDownCatchUp takes the storage (MinIO killed) down, then the
// ledger (Fabric peers frozen) too, then brings the storage back while the
// ledger stays down, then the ledger: each uplink is down for outage(t),
// alone and together. Readings keep being stored throughout, the lag shows
// in the metrics, uploads catch up while the ledger is still down, and
// afterwards every block is anchored, in order, exactly once.
func TestUplinksDownCatchUp(t *testing.T) {
	dir := t.TempDir()
	fabricDir := filepath.Join(dir, "fabric")
	startFabric(t, fabricDir)
	m := testserver.StartMinIO(t)
	t.Setenv("WOTCHAIN_TEST_S3_ACCESS", m.AccessKey)
	t.Setenv("WOTCHAIN_TEST_S3_SECRET", m.SecretKey)
	// Blocks of 200 readings or 2 s: a backlog of a few blocks per outage,
	// each a Fabric transaction of its own when the ledger is back.
	cfgPath := writeConfig(t, dir, 200, "2s", fmt.Sprintf(`storage:
  kind: s3
  s3:
    endpoint: %s
    bucket: wotchain-uplinks
    tls: false
    access_key_env: WOTCHAIN_TEST_S3_ACCESS
    secret_key_env: WOTCHAIN_TEST_S3_SECRET
    create_bucket: true
ledger:
  kind: fabric
  fabric:
    network_dir: fabric
    msp_id: ManufacturerMSP
    user: User1
    timeout: 5s
`, m.Endpoint))
	mustCLI(t, "register", "--config", cfgPath)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	metrics := "http://" + cfg.HTTP.Listen + "/metrics"
	p := start(t, cfgPath)
	p.waitFor(t, "two anchored blocks", 120*time.Second, func(_ uint64, anchored int) bool { return anchored >= 2 })
	acked0, _ := p.state()

	down := outage(t)
	uploaded := func() int { return metricValue(t, metrics, blocksUploaded) }
	anchoredNow := func() int { return metricValue(t, metrics, blocksAnchored) }
	// keepsStoring fails unless readings went on being stored since acked.
	keepsStoring := func(phase string, acked uint64, d time.Duration) uint64 {
		t.Helper()
		now, _ := p.state()
		if now < acked+uint64(d.Seconds())*20 {
			t.Fatalf("%s: readings stopped: %d -> %d acknowledged", phase, acked, now)
		}
		return now
	}

	// Phase 1: storage down alone. Nothing can be uploaded, so nothing new
	// is anchored (at most the block in flight completes).
	acked, _ := p.state()
	up0, anch0 := uploaded(), anchoredNow()
	m.Stop(t)
	storageBack := false
	defer func() {
		if !storageBack {
			m.Restart(t)
		}
	}()
	time.Sleep(down / 2)
	acked = keepsStoring("storage down", acked, down/2)

	// Phase 2: the ledger goes down too.
	freezePeers(t, fabricDir, syscall.SIGSTOP)
	resumed := false
	defer func() {
		if !resumed {
			freezePeers(t, fabricDir, syscall.SIGCONT)
		}
	}()
	time.Sleep(down / 2)
	acked = keepsStoring("both down", acked, down/2)
	upDown, anchDown := uploaded(), anchoredNow()
	if upDown > up0+1 || anchDown > anch0+1 {
		t.Fatalf("with storage down: uploaded %d -> %d, anchored %d -> %d", up0, upDown, anch0, anchDown)
	}
	if depth := metricValue(t, metrics, outboxDepth); depth < 2 {
		t.Fatalf("outbox depth %d during the outage; the lag should show", depth)
	}

	// Phase 3: storage back, the ledger still down. The upload lane catches
	// up on its own; nothing is anchored.
	m.Restart(t)
	storageBack = true
	phase3 := time.Now()
	p.waitFor(t, "uploads caught up while the ledger is down", time.Minute, func(uint64, int) bool {
		return uploaded() >= upDown+2
	})
	time.Sleep(time.Until(phase3.Add(down / 2)))
	ackedDuring := keepsStoring("ledger down", acked, down/2)
	if a := anchoredNow(); a > anchDown {
		t.Fatalf("%d blocks anchored while the ledger was down", a-anchDown)
	}
	backlog := metricValue(t, metrics, outboxDepth)
	t.Logf("before the ledger returns: %d blocks uploaded during the outage, %d waiting to be anchored", uploaded()-up0, backlog)

	// The ledger back: the backlog is anchored.
	freezePeers(t, fabricDir, syscall.SIGCONT)
	resumed = true
	p.waitFor(t, "the backlog anchored", 3*time.Minute, func(uint64, int) bool {
		return metricValue(t, metrics, outboxDepth) == 0
	})
	p.stop(t)

	n := openNode(t, cfgPath)
	last, err := n.Store.LastBlock()
	if err != nil {
		t.Fatal(err)
	}
	var heights []uint64
	for bookmark := ""; ; {
		page, err := n.Ledger.ListByAppliance(context.Background(), "e2e-appliance", 100, bookmark)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Credentials {
			heights = append(heights, c.Height)
		}
		if bookmark = page.Bookmark; bookmark == "" {
			break
		}
	}
	for i, h := range heights {
		if h != uint64(i) {
			t.Fatalf("ledger heights %v: not 0..n in order, once each", heights)
		}
	}
	if uint64(len(heights)) != last.Height+1 {
		t.Fatalf("%d blocks sealed, %d anchored", last.Height+1, len(heights))
	}
	for _, seq := range []uint64{1, ackedDuring, last.LastSeq} {
		mustCLI(t, "verify", "--config", cfgPath, "--seq", fmt.Sprint(seq))
	}
	t.Logf("outage %s per uplink: %d readings stored while down, %d blocks anchored in order after", down, ackedDuring-acked0, len(heights))
}
