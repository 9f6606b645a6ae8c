package e2e

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wotchain/wotchain/internal/testserver/fabric"
)

// startFabric brings a two-organisation Fabric network up in dir, with the
// project's chaincode deployed; it is torn down when the test ends.
func startFabric(t *testing.T, dir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	fabric.StartNetwork(ctx, t, dir, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})))
}

// TestFabricEndToEnd runs the appliance against a real Fabric network:
// readings are stored while the appliance is not yet registered, a
// manufacturer admin registers it, its blocks are anchored through the
// gateway, and the partner organisation, through its own peer, lists the
// provenance, follows new credentials with a resumable checkpoint, and
// fetches and verifies readings.
func TestFabricEndToEnd(t *testing.T) {
	dir := t.TempDir()
	startFabric(t, filepath.Join(dir, "fabric"))
	partnerKey := filepath.Join(dir, "partner.hpke")
	mustCLI(t, "keygen", "--kind", "recipient", "--out", partnerKey)

	cfgPath := writeConfig(t, dir, 30, "1s", `ledger:
  kind: fabric
  fabric:
    network_dir: fabric
    msp_id: ManufacturerMSP
    user: User1
recipients:
  - name: partner
    public_key_file: partner.hpke.pub
`)
	partnerCfg := filepath.Join(dir, "partner.yaml")
	if err := os.WriteFile(partnerCfg, []byte(`# The partner's view: its own peer and identity, and read access to the storage.
appliance:
  data_dir: partner
storage:
  kind: filesystem
  filesystem:
    dir: data/objects
ledger:
  kind: fabric
  fabric:
    network_dir: fabric
    msp_id: PartnerMSP
    user: User1
`), 0o644); err != nil {
		t.Fatal(err)
	}

	// Not registered yet: readings are stored, blocks wait in the outbox.
	p := start(t, cfgPath)
	p.waitFor(t, "readings before registration", 60*time.Second, func(a uint64, _ int) bool { return a > 60 })
	if _, anchored := p.state(); anchored != 0 {
		t.Fatalf("%d blocks anchored before the appliance was registered", anchored)
	}
	out := mustCLI(t, "register", "--config", cfgPath)
	// Identities are shown by MSP and certificate subject, not base64.
	if !strings.Contains(out, "registered by ManufacturerMSP/Admin@manufacturer.wotchain.local: anchoring identity ManufacturerMSP/User1@manufacturer.wotchain.local") {
		t.Fatalf("register:\n%s", out)
	}
	// Twelve blocks: enough of a run for the licensing window below.
	p.waitFor(t, "blocks anchored on Fabric", 120*time.Second, func(_ uint64, anchored int) bool { return anchored >= 12 })
	p.stop(t)
	// Before registration the appliance reports it and the outbox's
	// anchoring attempts are refused; nothing else may go wrong.
	for _, e := range p.errs {
		if !strings.Contains(e, "not registered") {
			t.Fatalf("appliance logged an error:\n%s", e)
		}
		if strings.Contains(e, "is not registered on the ledger") && !strings.Contains(e, `"identity":"ManufacturerMSP/User1@manufacturer.wotchain.local"`) {
			t.Fatalf("the identity to register is not shown by its subject:\n%s", e)
		}
	}

	n := openNode(t, cfgPath)
	last, err := n.Store.LastBlock()
	if err != nil {
		t.Fatal(err)
	}
	// The owner verifies readings against the credentials on Fabric.
	for _, seq := range []uint64{1, last.FirstSeq, last.LastSeq} {
		out := mustCLI(t, "verify", "--config", cfgPath, "--seq", strconv.FormatUint(seq, 10))
		if !strings.Contains(out, "anchored by ManufacturerMSP/User1@manufacturer.wotchain.local:") {
			t.Fatalf("verify %d against Fabric:\n%s", seq, out)
		}
	}

	// The partner lists the provenance of press-1 through its own peer.
	out = mustCLI(t, "provenance", "--config", partnerCfg, "--device", "press-1", "--from", rfc(0), "--to", rfc(time.Now().UnixNano()))
	if !strings.Contains(out, "e2e-appliance #0") || !strings.Contains(out, "by ManufacturerMSP/User1@manufacturer.wotchain.local") {
		t.Fatalf("provenance:\n%s", out)
	}

	// The partner follows credentials: the first run replays every
	// anchored block, a second run resumes after them.
	checkpoint := filepath.Join(dir, "partner", "follow.checkpoint")
	first := follow(t, partnerCfg, checkpoint, int(last.Height)+1)
	if first < int(last.Height)+1 {
		t.Fatalf("follow printed %d credentials, %d blocks are anchored", first, last.Height+1)
	}
	if again := follow(t, partnerCfg, checkpoint, 0); again != 0 {
		t.Fatalf("follow after a restart replayed %d credentials", again)
	}

	// The partner, a listed recipient, fetches a block and verifies a reading from it.
	fetched := filepath.Join(dir, "fetched")
	mustCLI(t, "fetch", "--config", partnerCfg, "--block", last.BlockID, "--key", partnerKey, "--out", fetched)
	out = mustCLI(t, "verify", "--config", partnerCfg, "--fetched", fetched, "--block", last.BlockID, "--key", partnerKey,
		"--seq", strconv.FormatUint(last.LastSeq, 10))
	if !strings.Contains(out, fmt.Sprintf("reading %d: verified", last.LastSeq)) {
		t.Fatalf("partner verify:\n%s", out)
	}

	// Licensing on Fabric: the owner's admin grants a second partner key
	// (not a recipient) press-1 over a window of a few seconds that cuts
	// blocks; the running appliance delivers the keys of exactly those
	// polls; that partner, through its own peer, decrypts exactly the
	// granted readings, and they verify.
	licensed := filepath.Join(dir, "licensed.hpke")
	mustCLI(t, "keygen", "--kind", "recipient", "--out", licensed)
	all := ownerReadings(t, cfgPath)
	from, to := grantWindow(t, all, 2*time.Second)
	inWindow := windowLicense(from, to)
	windowBlocks := blocksOf(all, inWindow)
	if out, code := runCLI(t, "grant", "--config", cfgPath, "--as", "User1", "--id", "g-fabric", "--partner-msp", "PartnerMSP",
		"--partner-key", licensed+".pub", "--devices", "press-1", "--from", rfc(from), "--to", rfc(to)); code == 0 || !strings.Contains(out, "forbidden") {
		t.Fatalf("a non-admin client granted: exit %d\n%s", code, out)
	}
	mustCLI(t, "grant", "--config", cfgPath, "--id", "g-fabric", "--partner-msp", "PartnerMSP",
		"--partner-key", licensed+".pub", "--devices", "press-1", "--from", rfc(from), "--to", rfc(to))
	p = start(t, cfgPath)
	p.waitFor(t, "keys delivered", 60*time.Second, func(uint64, int) bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.delivered >= len(windowBlocks)
	})
	p.stop(t)
	grantFetched := filepath.Join(dir, "fetched-grant")
	all = ownerReadings(t, cfgPath)
	fetchAll(t, partnerCfg, grantFetched, licensed, all[0].at, "press-1", "boiler-1", "env-1")
	got := decryptAll(t, grantFetched, blockIDs(all), licensed)
	granted, outside := exactness(t, "Fabric grant", all, got, inWindow)
	t.Logf("Fabric: %d readings in %d anchored blocks, %d cut by the window; %d readings granted, %d decrypted, %d outside the grant",
		len(all), len(blockIDs(all)), cutBlocks(all, inWindow), granted, len(got), outside)
	if granted == 0 || cutBlocks(all, inWindow) == 0 {
		t.Fatalf("the window holds %d readings and cuts %d blocks", granted, cutBlocks(all, inWindow))
	}
	in, ungranted := licensedIn(all, inWindow)
	sample := []owned{in[0], in[len(in)/2], in[len(in)-1]}
	if n := verifyGranted(t, partnerCfg, grantFetched, licensed, sample); n != len(sample) {
		t.Fatalf("%d of %d granted readings verified on Fabric", n, len(sample))
	}
	if ungranted == nil {
		t.Fatal("no ungranted reading in the blocks the window cuts")
	}
	refuseUngranted(t, partnerCfg, grantFetched, licensed, *ungranted)
}

// follow runs `wotchain follow` until it printed want credentials (or for a
// few seconds when want is 0), stops it with SIGINT and returns the count.
func follow(t *testing.T, cfg, checkpoint string, want int) int {
	t.Helper()
	cmd := exec.Command(binary(t), "follow", "--config", cfg, "--checkpoint", checkpoint)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	count := 0
	timeout := time.After(5 * time.Second)
	if want > 0 {
		timeout = time.After(60 * time.Second)
	}
loop:
	for want == 0 || count < want {
		select {
		case l, ok := <-lines:
			if !ok {
				break loop
			}
			if strings.Contains(l, `"credential"`) {
				count++
			}
		case <-timeout:
			break loop
		}
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	for range lines {
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("follow exited with %v\n%s", err, stderr.String())
	}
	return count
}
