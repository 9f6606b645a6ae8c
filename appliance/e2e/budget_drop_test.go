package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/outbox"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/internal/testserver"
)

// TestDiskBudgetDropsOldestUnanchored: storage is down, blocks pile up
// locally past the cap, and the drop_oldest_unanchored policy deletes the
// oldest ones' readings with an alarm. When storage returns, every block,
// dropped or not, is anchored in order (the chain stays whole), dropped
// blocks carry the dropped location, and every reading kept verifies.
func TestDiskBudgetDropsOldestUnanchored(t *testing.T) {
	m := testserver.StartMinIO(t)
	t.Setenv("WOTCHAIN_TEST_S3_ACCESS", m.AccessKey)
	t.Setenv("WOTCHAIN_TEST_S3_SECRET", m.SecretKey)
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, 30, "500ms", fmt.Sprintf(`storage:
  kind: s3
  s3:
    endpoint: %s
    bucket: wotchain-drop
    tls: false
    access_key_env: WOTCHAIN_TEST_S3_ACCESS
    secret_key_env: WOTCHAIN_TEST_S3_SECRET
    create_bucket: true
budget:
  max_bytes: 200KiB
  on_full: drop_oldest_unanchored
`, m.Endpoint))
	p := start(t, cfgPath)
	p.waitFor(t, "an anchored block", 60*time.Second, func(_ uint64, anchored int) bool { return anchored >= 1 })
	m.Stop(t)
	p.waitFor(t, "the drop alarm", 90*time.Second, func(uint64, int) bool {
		return p.countLogs("ALARM disk budget reached: oldest unanchored readings dropped") > 0 && p.countLogs(`"blocks":[`) > 0
	})
	m.Restart(t)
	p.waitFor(t, "catching up", 90*time.Second, func(uint64, int) bool {
		return p.countLogs("anchoring its credential without data") > 0
	})
	before, _ := p.state()
	p.waitFor(t, "more readings", 60*time.Second, func(a uint64, _ int) bool { return a > before+50 })
	p.stop(t)

	n := openNode(t, cfgPath)
	if pending, _ := n.Store.Outbox(); len(pending) != 0 {
		t.Fatalf("outbox not empty: %v", pending)
	}
	dropped := 0
	var kept []*store.BlockRecord
	err := n.Store.Blocks(0, func(b *store.BlockRecord) (bool, error) {
		cred, err := n.Ledger.Credential(context.Background(), b.BlockID)
		if err != nil {
			return false, fmt.Errorf("block %d not on the ledger: %w", b.Height, err)
		}
		if b.Dropped != (cred.Location == outbox.DroppedLocation) {
			return false, fmt.Errorf("block %d: dropped %v but anchored at %s", b.Height, b.Dropped, cred.Location)
		}
		if b.Dropped {
			dropped++
			if _, err := n.Store.Reading(b.FirstSeq); !store.IsNotFound(err) {
				return false, fmt.Errorf("dropped block %d still has its readings", b.Height)
			}
		} else {
			kept = append(kept, b)
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if dropped == 0 || len(kept) == 0 {
		t.Fatalf("%d blocks dropped, %d kept; want some of each", dropped, len(kept))
	}
	// Every kept reading verifies against S3 and the ledger.
	for _, b := range kept {
		for _, seq := range []uint64{b.FirstSeq, b.LastSeq} {
			mustCLI(t, "verify", "--config", cfgPath, "--seq", fmt.Sprint(seq))
		}
	}
	t.Logf("%d blocks dropped under the cap, %d kept and verified", dropped, len(kept))
}
