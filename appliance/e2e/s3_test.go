package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/wotchain/wotchain/internal/testserver"
)

// TestStorageOutageCatchesUp runs the appliance against a real
// S3-compatible server (MinIO), kills the server mid-run, and checks that
// readings keep being stored, sealed blocks wait in the outbox, and
// everything is uploaded, anchored and verifiable once the server is back.
func TestStorageOutageCatchesUp(t *testing.T) {
	m := testserver.StartMinIO(t)
	t.Setenv("WOTCHAIN_TEST_S3_ACCESS", m.AccessKey)
	t.Setenv("WOTCHAIN_TEST_S3_SECRET", m.SecretKey)
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, 30, "500ms", fmt.Sprintf(`storage:
  kind: s3
  s3:
    endpoint: %s
    bucket: wotchain-e2e
    prefix: appliance/
    tls: false
    access_key_env: WOTCHAIN_TEST_S3_ACCESS
    secret_key_env: WOTCHAIN_TEST_S3_SECRET
    create_bucket: true
`, m.Endpoint))

	p := start(t, cfgPath)
	p.waitFor(t, "two anchored blocks", 60*time.Second, func(_ uint64, anchored int) bool { return anchored >= 2 })
	m.Stop(t)
	ackedAtOutage, anchoredAtOutage := p.state()
	p.waitFor(t, "readings stored during the outage", 60*time.Second, func(a uint64, _ int) bool { return a > ackedAtOutage+100 })
	p.mu.Lock()
	failures, anchoredDuring := p.failures, p.anchored
	p.mu.Unlock()
	if failures == 0 {
		t.Fatal("no failed upload logged while storage was down")
	}
	// At most the block in flight at the moment of the outage may complete.
	if anchoredDuring > anchoredAtOutage+1 {
		t.Fatalf("%d blocks anchored during the outage", anchoredDuring-anchoredAtOutage)
	}
	m.Restart(t)
	backlog := anchoredDuring
	p.waitFor(t, "the backlog anchored", 90*time.Second, func(_ uint64, anchored int) bool { return anchored >= backlog+4 })
	p.stop(t)

	n := openNode(t, cfgPath)
	if pending, _ := n.Store.Outbox(); len(pending) != 0 {
		t.Fatalf("outbox not empty after catching up: %v", pending)
	}
	perDevice := verifyAll(t, n)
	t.Logf("outage: %d failed uploads retried; readings verified per device %v", failures, perDevice)
}
