package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/appliance/daemon"
	"github.com/wotchain/wotchain/bridge/objstore"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/bridge/verify"
	"github.com/wotchain/wotchain/protocols"
)

// openNode opens the appliance's node as the daemon does; it is closed when
// the test ends.
func openNode(t *testing.T, cfgPath string) *daemon.Node {
	t.Helper()
	n := loadNode(t, cfgPath)
	t.Cleanup(n.Close)
	return n
}

// loadNode opens the node for a caller that closes it itself, before the
// appliance opens its store again.
func loadNode(t *testing.T, cfgPath string) *daemon.Node {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	n, err := daemon.Open(cfg, slog.New(slog.DiscardHandler), true)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// verifyAll proves every stored reading and returns how many there were per device.
func verifyAll(t *testing.T, n *daemon.Node) map[string]int {
	t.Helper()
	next, err := n.Store.NextSeq()
	if err != nil {
		t.Fatal(err)
	}
	v := &verify.Verifier{Store: n.Store, Ledger: n.Ledger, Storage: n.Storage, Key: n.Owner}
	perDevice := map[string]int{}
	for seq := uint64(1); seq < next; seq++ {
		rep := v.Reading(context.Background(), seq)
		if !rep.OK() {
			t.Fatalf("reading %d does not verify: %+v", seq, rep.Checks)
		}
		perDevice[rep.Reading.DeviceID]++
	}
	return perDevice
}

// anchorThree runs the appliance of a new configuration in a temporary
// directory, sealing blocks of maxReadings, until three blocks are
// anchored, and stops it.
func anchorThree(t *testing.T, maxReadings int) (dir, cfgPath string, p *proc) {
	t.Helper()
	dir = t.TempDir()
	cfgPath = writeConfig(t, dir, maxReadings, "1s")
	p = start(t, cfgPath)
	p.waitFor(t, "three anchored blocks", 60*time.Second, func(_ uint64, anchored int) bool { return anchored >= 3 })
	p.stop(t)
	return dir, cfgPath, p
}

func TestDemoRunVerifiesAndDetectsTampering(t *testing.T) {
	dir, cfgPath, p := anchorThree(t, 40)
	if len(p.errs) > 0 {
		t.Fatalf("appliance logged errors:\n%s", strings.Join(p.errs, "\n"))
	}

	n := openNode(t, cfgPath)
	perDevice := verifyAll(t, n)
	for _, d := range []string{"press-1", "boiler-1", "env-1"} {
		if perDevice[d] == 0 {
			t.Errorf("no verified readings from %s (got %v)", d, perDevice)
		}
	}
	// A Good reading from each protocol carries the simulator's value type.
	last, _ := n.Store.NextSeq()
	for seq := uint64(1); seq < last; seq++ {
		raw, _ := n.Store.Reading(seq)
		r, err := reading.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		if r.Quality != protocols.Good {
			t.Errorf("reading %d (%s/%s) has quality %s: %s", seq, r.DeviceID, r.Point, r.Quality, r.Reason)
		}
	}

	// The CLI proves a reading and exits 0.
	out, code := runCLI(t, "verify", "--config", cfgPath, "--device", "boiler-1", "--point", "temperature")
	if code != 0 || !strings.Contains(out, "verified") {
		t.Fatalf("verify of a good reading: exit %d\n%s", code, out)
	}

	// Flip one byte of block 1's stored object: every reading of that
	// block fails at the stored-object check; other blocks still verify.
	b1, err := n.Store.Block(1)
	if err != nil {
		t.Fatal(err)
	}
	path := (&objstore.FS{Dir: filepath.Join(dir, "data", "objects")}).Path(b1.ObjectHash)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x01
	if err := os.WriteFile(path, data, 0o640); err != nil {
		t.Fatal(err)
	}
	out, code = runCLI(t, "verify", "--config", cfgPath, "--seq", strconv.FormatUint(b1.FirstSeq, 10))
	if code != 1 || !strings.Contains(out, "FAIL stored object") || !strings.Contains(out, "altered") {
		t.Fatalf("verify of a reading in a tampered block: exit %d\n%s", code, out)
	}
	b0, _ := n.Store.Block(0)
	if out, code = runCLI(t, "verify", "--config", cfgPath, "--seq", strconv.FormatUint(b0.LastSeq, 10)); code != 0 {
		t.Fatalf("verify of a reading in an untouched block: exit %d\n%s", code, out)
	}
}

// TestKilledAndRestartedLosesNothing kills the appliance with SIGKILL at
// random moments under load, restarts it, and checks that every reading it
// had acknowledged is stored exactly once, sequence numbers have no gaps,
// and every block is anchored exactly once and verifies.
func TestKilledAndRestartedLosesNothing(t *testing.T) {
	kills := 10 // the CI form; WOTCHAIN_E2E_KILLS=50 (make reliability-long) is the long one
	if v := os.Getenv("WOTCHAIN_E2E_KILLS"); v != "" {
		kills, _ = strconv.Atoi(v)
	}
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, 30, "500ms")
	var acked uint64
	for i := 0; i < kills; i++ {
		p := start(t, cfgPath)
		before := acked
		p.waitFor(t, "new readings", 60*time.Second, func(a uint64, _ int) bool { return a > before+20 })
		time.Sleep(time.Duration(rand.N(700)) * time.Millisecond)
		p.kill(t)
		a, _ := p.state()
		acked = max(acked, a)
		t.Logf("kill %d: %d readings acknowledged so far", i+1, acked)
	}
	p := start(t, cfgPath)
	p.waitFor(t, "readings after the last restart", 60*time.Second, func(a uint64, anchored int) bool { return a > acked+20 && anchored > 0 })
	p.stop(t)

	n := openNode(t, cfgPath)
	next, _ := n.Store.NextSeq()
	if next-1 < acked {
		t.Fatalf("store ends at seq %d but %d were acknowledged", next-1, acked)
	}
	if _, err := n.Store.Readings(1, next-1); err != nil {
		t.Fatalf("readings 1..%d: %v", next-1, err)
	}
	if pending, _ := n.Store.Outbox(); len(pending) != 0 {
		t.Fatalf("blocks still in the outbox after a clean stop: %v", pending)
	}
	// Local blocks: consecutive heights, contiguous sequence ranges, all anchored.
	var heights []uint64
	nextSeq := uint64(1)
	err := n.Store.Blocks(0, func(b *store.BlockRecord) (bool, error) {
		if b.Height != uint64(len(heights)) || b.FirstSeq != nextSeq || b.State != store.Anchored {
			return false, fmt.Errorf("block %d: seq %d..%d state %s, want height %d from seq %d anchored", b.Height, b.FirstSeq, b.LastSeq, b.State, len(heights), nextSeq)
		}
		heights = append(heights, b.Height)
		nextSeq = b.LastSeq + 1
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The ledger holds each block exactly once, in order.
	var onLedger []string
	bookmark := ""
	for {
		page, err := n.Ledger.ListByAppliance(context.Background(), "e2e-appliance", 7, bookmark)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Credentials {
			if c.Height != uint64(len(onLedger)) {
				t.Fatalf("ledger lists height %d at position %d", c.Height, len(onLedger))
			}
			local, _ := n.Store.Block(c.Height)
			if local.BlockID != c.BlockID {
				t.Fatalf("ledger height %d holds %s, appliance sealed %s", c.Height, c.BlockID, local.BlockID)
			}
			onLedger = append(onLedger, c.BlockID)
		}
		if bookmark = page.Bookmark; bookmark == "" {
			break
		}
	}
	if len(onLedger) != len(heights) {
		t.Fatalf("%d blocks sealed, %d on the ledger", len(heights), len(onLedger))
	}
	verifyAll(t, n)
	t.Logf("%d kills, %d readings acknowledged, %d stored, %d blocks anchored once each", kills, acked, next-1, len(heights))
}
