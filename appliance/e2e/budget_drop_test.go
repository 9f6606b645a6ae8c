package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/outbox"
	"github.com/wotchain/wotchain/bridge/store"
)

// TestDiskBudgetDropsOldestUnanchored: storage is down, blocks pile up
// locally past the cap, and the drop_oldest_unanchored policy deletes the
// oldest ones' readings with an alarm. When storage returns, every block,
// dropped or not, is anchored in order (the chain stays whole), dropped
// blocks carry the dropped location, retention prunes the backlog, and
// every reading kept verifies. WOTCHAIN_E2E_BUDGET_ROUNDS repeats the
// outage.
func TestDiskBudgetDropsOldestUnanchored(t *testing.T) {
	rounds := budgetRounds(t)
	m, cfgPath := budgetConfig(t, "drop_oldest_unanchored")
	addBulkDevice(t, cfgPath)
	p := start(t, cfgPath)
	p.waitFor(t, "an anchored block", 60*time.Second, func(_ uint64, anchored int) bool { return anchored >= 1 })
	const alarm = "ALARM disk budget reached: oldest unanchored readings dropped"
	const droppedAnchored = "anchoring its credential without data"
	for round := 1; round <= rounds; round++ {
		alarms, anchoredDropped := p.countLogs(alarm), p.countLogs(droppedAnchored)
		m.Stop(t)
		p.waitFor(t, fmt.Sprintf("round %d: the drop alarm", round), 3*time.Minute, func(uint64, int) bool {
			return p.countLogs(alarm, `"blocks":[`) > alarms
		})
		m.Restart(t)
		p.waitFor(t, fmt.Sprintf("round %d: catching up", round), 3*time.Minute, func(uint64, int) bool {
			return p.countLogs(droppedAnchored) > anchoredDropped
		})
		p.waitFor(t, fmt.Sprintf("round %d: the outbox empty again", round), 3*time.Minute, func(_ uint64, anchored int) bool {
			return p.countLogs(`"msg":"block sealed"`)-anchored <= 2
		})
		// With storage up, the budget frees space by pruning anchored
		// blocks: nothing more is dropped.
		alarms = p.countLogs(alarm)
		time.Sleep(2*budgetCheck + time.Second)
		if n := p.countLogs(alarm) - alarms; n != 0 {
			t.Fatalf("round %d: %d drop alarms with storage up and the backlog anchored:\n%s", round, n, p.tail())
		}
		acked, anchored := p.state()
		t.Logf("round %d: %d blocks anchored as dropped so far, %d drop alarms; %d readings acknowledged, %d blocks anchored",
			round, p.countLogs(droppedAnchored), p.countLogs(alarm), acked, anchored)
	}
	before, _ := p.state()
	p.waitFor(t, "more readings", 60*time.Second, func(a uint64, _ int) bool { return a > before+50 })
	p.stop(t)

	n := openNode(t, cfgPath)
	if pending, _ := n.Store.Outbox(); len(pending) != 0 {
		t.Fatalf("outbox not empty: %v", pending)
	}
	dropped, kept := 0, 0
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
			kept++
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if dropped == 0 || kept == 0 {
		t.Fatalf("%d blocks dropped, %d kept; want some of each", dropped, kept)
	}
	// Every reading still stored verifies against S3 and the ledger; the
	// others were pruned after anchoring or dropped by the policy.
	verified := verifyStored(t, cfgPath, true)
	t.Logf("%d rounds: %d blocks dropped under the cap, %d kept; %d readings still stored, each verified", rounds, dropped, kept, verified)
}
