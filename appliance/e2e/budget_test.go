package e2e

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/bridge/verify"
	"github.com/wotchain/wotchain/internal/testserver"
)

// budgetRounds is how many times the disk budget tests fill the store past
// its cap and recover: 1 in CI, WOTCHAIN_E2E_BUDGET_ROUNDS=N for the long
// form.
// budgetCheck is how often the appliance compares its store with the cap.
const budgetCheck = 5 * time.Second

func budgetRounds(t *testing.T) int {
	if v := os.Getenv("WOTCHAIN_E2E_BUDGET_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("WOTCHAIN_E2E_BUDGET_ROUNDS=%q: want a positive number", v)
		}
		return n
	}
	return 1
}

// TestDiskBudgetPausesLowPriorityDevices drives the store past its cap by
// taking storage down (blocks stay local; retention prunes only anchored
// blocks), round after round. Each round: the appliance raises an alarm
// and stops polling its low-priority devices while the high-priority one
// keeps polling; once storage is back, the backlog is uploaded and
// anchored, retention prunes it, and below 90% of the cap the paused
// devices resume. Nothing crashes, no stored reading is touched by the
// budget, and every reading still in the store verifies.
func TestDiskBudgetPausesLowPriorityDevices(t *testing.T) {
	rounds := budgetRounds(t)
	m, cfgPath := budgetConfig(t, "pause_devices")
	editConfig(t, cfgPath, func(cfg string) string {
		return strings.Replace(cfg, "  - id: press-1\n", "  - id: press-1\n    priority: 10\n", 1)
	})
	addBulkDevice(t, cfgPath)
	p := start(t, cfgPath)
	p.waitFor(t, "an anchored block", 60*time.Second, func(_ uint64, anchored int) bool { return anchored >= 1 })
	if n := p.countLogs("ALARM disk budget"); n != 0 {
		t.Fatalf("the budget alarm went off with storage up (the cap is too small for this test):\n%s", p.tail())
	}
	const alarm = "ALARM disk budget reached: lowest-priority devices paused"
	for round := 1; round <= rounds; round++ {
		alarms, resumes := p.countLogs(alarm), p.countLogs("disk budget: below 90% again; devices resume")
		m.Stop(t)
		p.waitFor(t, fmt.Sprintf("round %d: the disk budget alarm", round), 3*time.Minute, func(uint64, int) bool {
			return p.countLogs(alarm) > alarms
		})
		if p.countLogs(alarm, `"paused":["boiler-1","bulk-1","env-1"]`) == 0 {
			t.Fatalf("round %d: the alarm did not name the paused low-priority devices:\n%s", round, p.tail())
		}
		for _, id := range []string{"boiler-1", "bulk-1", "env-1"} {
			if p.countLogs(`"msg":"status recorded"`, `"device":"`+id+`"`, `"state":"paused"`) < round {
				t.Fatalf("round %d: no paused status record of %s:\n%s", round, id, p.tail())
			}
		}
		time.Sleep(300 * time.Millisecond) // a poll in flight when the alarm went off
		boiler, env, bulk, press := p.pollsOf("boiler-1"), p.pollsOf("env-1"), p.pollsOf("bulk-1"), p.pollsOf("press-1")
		p.waitFor(t, fmt.Sprintf("round %d: press-1 polling on", round), 30*time.Second, func(uint64, int) bool { return p.pollsOf("press-1") > press+10 })
		if p.pollsOf("boiler-1") != boiler || p.pollsOf("env-1") != env || p.pollsOf("bulk-1") != bulk {
			t.Fatalf("round %d: paused devices kept polling: boiler-1 %d -> %d, env-1 %d -> %d, bulk-1 %d -> %d",
				round, boiler, p.pollsOf("boiler-1"), env, p.pollsOf("env-1"), bulk, p.pollsOf("bulk-1"))
		}
		m.Restart(t)
		p.waitFor(t, fmt.Sprintf("round %d: devices resumed", round), 3*time.Minute, func(uint64, int) bool {
			return p.countLogs("disk budget: below 90% again; devices resume") > resumes
		})
		if p.countLogs(`"msg":"status recorded"`, `"device":"env-1"`, `"state":"resumed"`) < round {
			t.Fatalf("round %d: no resumed status record of env-1:\n%s", round, p.tail())
		}
		boiler, env = p.pollsOf("boiler-1"), p.pollsOf("env-1")
		p.waitFor(t, fmt.Sprintf("round %d: resumed devices polling", round), 30*time.Second, func(uint64, int) bool {
			return p.pollsOf("boiler-1") > boiler+3 && p.pollsOf("env-1") > env+3
		})
		// With storage up, the budget frees space by pruning anchored
		// blocks: no device is paused again.
		alarms = p.countLogs(alarm)
		time.Sleep(2*budgetCheck + time.Second)
		if n := p.countLogs(alarm) - alarms; n != 0 {
			t.Fatalf("round %d: %d pause alarms with storage up and the backlog anchored:\n%s", round, n, p.tail())
		}
		acked, anchored := p.state()
		t.Logf("round %d: paused and resumed; %d readings acknowledged, %d blocks anchored so far", round, acked, anchored)
	}
	p.stop(t)
	if len(p.errs) > p.countLogs(`"level":"ERROR"`, "ALARM disk budget") {
		t.Errorf("the appliance logged errors other than the alarms:\n%s", strings.Join(p.errs, "\n"))
	}
	verified := verifyStored(t, cfgPath, false)
	t.Logf("%d rounds; %d readings still stored, each verified against S3 and the ledger", rounds, verified)
}

// budgetConfig starts MinIO and writes a configuration storing to it, with
// pruning every second and a disk budget of 1.5 MiB under policy: a few
// KB a second that retention cannot prune (block records, the embedded
// ledger, write-ahead log) leave room for minutes of rounds.
func budgetConfig(t *testing.T, policy string) (*testserver.MinIO, string) {
	t.Helper()
	m := testserver.StartMinIO(t)
	t.Setenv("WOTCHAIN_TEST_S3_ACCESS", m.AccessKey)
	t.Setenv("WOTCHAIN_TEST_S3_SECRET", m.SecretKey)
	cfgPath := writeConfig(t, t.TempDir(), 3000, "2s", fmt.Sprintf(`storage:
  kind: s3
  s3:
    endpoint: %s
    bucket: wotchain-budget
    tls: false
    access_key_env: WOTCHAIN_TEST_S3_ACCESS
    secret_key_env: WOTCHAIN_TEST_S3_SECRET
    create_bucket: true
retention:
  keep_for: 1s
  every: 1s
budget:
  max_bytes: 1536KiB
  on_full: %s
`, m.Endpoint, policy))
	return m, cfgPath
}

// editConfig rewrites the configuration file at path.
func editConfig(t *testing.T, path string, edit func(string) string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(edit(string(raw))), 0o644); err != nil {
		t.Fatal(err)
	}
}

// addBulkDevice adds bulk-1: six registers of the simulated press line
// read every 20 ms (300 readings a second), so that the store reaches a
// disk budget in seconds rather than minutes.
func addBulkDevice(t *testing.T, path string) {
	t.Helper()
	editConfig(t, path, func(cfg string) string {
		url := regexp.MustCompile(`url: (tcp://[0-9.:]+)`).FindStringSubmatch(cfg)
		if url == nil {
			t.Fatal("no Modbus device in the configuration")
		}
		var points strings.Builder
		for a := range 6 { // the simulator's holding registers
			fmt.Fprintf(&points, "        - {name: r%d, register: holding, address: %d, type: uint16}\n", a, a)
		}
		bulk := fmt.Sprintf("  - id: bulk-1\n    protocol: modbus\n    interval: 20ms\n    timeout: 500ms\n    modbus:\n      url: %s\n      points:\n%s", url[1], points.String())
		return strings.Replace(cfg, "  - id: env-1\n", bulk+"  - id: env-1\n", 1)
	})
}

// verifyStored checks that the store's sequence numbers are gap-free up to
// the last acknowledged one, that every reading missing from the store
// belongs to a block anchored before retention pruned it (or dropped by
// the disk budget, when allowDropped), and that every reading still stored
// verifies end to end. It returns how many verified.
func verifyStored(t *testing.T, cfgPath string, allowDropped bool) int {
	t.Helper()
	n := openNode(t, cfgPath)
	if pending, err := n.Store.Outbox(); err != nil || len(pending) != 0 {
		t.Fatalf("outbox after the run: %v %v", pending, err)
	}
	next, err := n.Store.NextSeq()
	if err != nil {
		t.Fatal(err)
	}
	v := &verify.Verifier{Store: n.Store, Ledger: n.Ledger, Storage: n.Storage, Key: n.Owner}
	verified := 0
	for seq := uint64(1); seq < next; seq++ {
		if _, err := n.Store.Reading(seq); store.IsNotFound(err) {
			b, err := n.Store.BlockForSeq(seq)
			if err != nil {
				t.Fatalf("reading %d is gone and no block holds it: %v", seq, err)
			}
			if b.State != store.Anchored || (b.Dropped && !allowDropped) {
				t.Fatalf("reading %d is gone, its block %d is %s (dropped %v)", seq, b.Height, b.State, b.Dropped)
			}
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		if rep := v.Reading(context.Background(), seq); !rep.OK() {
			t.Fatalf("reading %d does not verify: %+v", seq, rep.Checks)
		}
		verified++
	}
	if verified == 0 {
		t.Fatal("no reading left in the store to verify")
	}
	return verified
}
