package e2e

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
)

// rotation is what `wotchain rotate-key` printed.
type rotation struct {
	oldID, newID string
	from         uint64
}

var rotatedLine = regexp.MustCompile(`key (\S+) replaced by key ([0-9a-f]{16}) from height (\d+)`)

// rotateKey runs rotate-key (the appliance stopped) and parses its report.
func rotateKey(t *testing.T, cfgPath string, args ...string) rotation {
	t.Helper()
	out := mustCLI(t, append([]string{"rotate-key", "--config", cfgPath}, args...)...)
	m := rotatedLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("rotate-key printed no rotation:\n%s", out)
	}
	from, _ := strconv.ParseUint(m[3], 10, 64)
	t.Logf("rotate-key:\n%s", out)
	return rotation{oldID: m[1], newID: m[2], from: from}
}

// checkRotatedStore checks the store after a rotation and a run with the
// new key: each block records the key of its height, and blocks on both
// sides of the rotation are anchored. It returns a reading of the first
// block, of the last one sealed under the old key and of the last one.
func checkRotatedStore(t *testing.T, cfgPath string, r rotation) []uint64 {
	t.Helper()
	n := loadNode(t, cfgPath)
	defer n.Close()
	var first, lastOld, last *store.BlockRecord
	err := n.Store.Blocks(0, func(b *store.BlockRecord) (bool, error) {
		want := r.oldID
		if b.Height >= r.from {
			want = r.newID
		}
		if b.KeyID != want {
			t.Errorf("block %d: key %q, want %s", b.Height, b.KeyID, want)
		}
		// The last few may still be in the outbox after the stop's drain
		// (on Fabric): the readings checked are from anchored blocks.
		if b.State != store.Anchored {
			return true, nil
		}
		if first == nil {
			first = b
		}
		if b.Height < r.from {
			lastOld = b
		}
		last = b
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if lastOld == nil || last == nil || last.Height < r.from+1 {
		t.Fatalf("anchored blocks %v .. %v, rotation at %d: want blocks on both sides", lastOld, last, r.from)
	}
	if id, _ := n.Store.SigningKeyID(); id != r.newID {
		t.Fatalf("store records signing key %q, want %s", id, r.newID)
	}
	return []uint64{first.FirstSeq, lastOld.LastSeq, last.LastSeq}
}

// provenanceKeys lists the key ids `provenance --json` shows for device,
// after checking that the text form prints each of them too.
func provenanceKeys(t *testing.T, cfgPath, device string, since time.Time) map[string]int {
	t.Helper()
	args := []string{"provenance", "--config", cfgPath, "--device", device, "--from", since.UTC().Format(time.RFC3339)}
	text := mustCLI(t, args...)
	ids := map[string]int{}
	for line := range strings.Lines(mustCLI(t, append(args, "--json")...)) {
		var c struct {
			KeyID string `json:"keyId"`
		}
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("provenance line %q: %v", line, err)
		}
		ids[c.KeyID]++
	}
	for id := range ids {
		if !strings.Contains(text, "  key "+id) {
			t.Errorf("provenance does not print key %s:\n%s", id, text)
		}
	}
	return ids
}

// verifySeqs proves readings through `wotchain verify`.
func verifySeqs(t *testing.T, cfgPath string, seqs ...uint64) {
	t.Helper()
	for _, seq := range seqs {
		out, code := runCLI(t, "verify", "--config", cfgPath, "--seq", strconv.FormatUint(seq, 10))
		if code != 0 {
			t.Fatalf("verify --seq %d: exit %d\n%s", seq, code, out)
		}
	}
}

// TestKeyRotationEmbedded rotates the key of an appliance killed with
// readings not yet sealed: rotate-key seals them under the old key, the
// embedded ledger takes the new key from the next height, the old key is
// kept under keys/retired/, and readings from before and after verify.
func TestKeyRotationEmbedded(t *testing.T) {
	since := time.Now().Add(-time.Minute)
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, 30, "1s")
	p := start(t, cfgPath)
	p.waitFor(t, "anchored blocks", 60*time.Second, func(_ uint64, anchored int) bool { return anchored >= 2 })
	p.kill(t)

	// A running appliance holds the store: rotate-key says so.
	running := start(t, cfgPath)
	running.waitFor(t, "the appliance running again", 60*time.Second, func(_ uint64, anchored int) bool { return anchored >= 1 })
	if out, code := runCLI(t, "rotate-key", "--config", cfgPath); code == 0 || !strings.Contains(out, "in use by a running appliance") {
		t.Fatalf("rotate-key beside a running appliance: exit %d\n%s", code, out)
	}
	running.kill(t)

	r := rotateKey(t, cfgPath)
	signPath := filepath.Join(dir, "data", "keys", "appliance.key")
	retired := keys.RetiredPath(signPath, r.oldID)
	if st, err := os.Stat(retired); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("retired key %s: %v (mode %v)", retired, err, st)
	}
	if _, err := os.Stat(keys.PendingPath(signPath)); !os.IsNotExist(err) {
		t.Fatalf("pending key left behind: %v", err)
	}

	runRotated(t, cfgPath, r, since, 60*time.Second)

	// The compromise procedure's last step, after the outbox drained:
	// revoking the old key strands nothing, and what it signed before the
	// compromise still verifies.
	out := mustCLI(t, "revoke-key", "--config", cfgPath, "--key-id", r.oldID, "--compromised-at", time.Now().UTC().Format(time.RFC3339Nano))
	if !strings.Contains(out, "key "+r.oldID+"  heights 0..") {
		t.Fatalf("revoke-key:\n%s", out)
	}
	p = start(t, cfgPath)
	p.waitFor(t, "anchoring after the revocation", 60*time.Second, func(_ uint64, anchored int) bool { return anchored >= 1 })
	p.stop(t)
	if len(p.errs) > 0 {
		t.Fatalf("errors after revoking the retired key:\n%s", strings.Join(p.errs, "\n"))
	}
	verifySeqs(t, cfgPath, 1)
}

// TestRevokedKeyRefusedAfterCompromise revokes the appliance's current
// key with a compromise time after its first blocks were anchored: those
// verify, a block anchored after the compromise fails verification, and
// the appliance, restarted with the revoked key, stores readings but its
// anchoring attempts are refused with an error that says why. Then a
// rotation and a start re-seal the stranded blocks (resealAfterRotation).
func TestRevokedKeyRefusedAfterCompromise(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, 30, "1s")
	p := start(t, cfgPath)
	p.waitFor(t, "anchored blocks", 60*time.Second, func(_ uint64, anchored int) bool { return anchored >= 2 })
	compromised := time.Now()
	_, before := p.state()
	p.waitFor(t, "a block anchored after the compromise", 60*time.Second, func(_ uint64, anchored int) bool { return anchored > before+1 })
	p.kill(t)

	n := loadNode(t, cfgPath)
	keyID, err := n.Store.SigningKeyID()
	n.Close()
	if err != nil || keyID == "" {
		t.Fatalf("store's signing key id: %q, %v", keyID, err)
	}
	revoke := []string{"revoke-key", "--config", cfgPath, "--key-id", keyID,
		"--compromised-at", compromised.UTC().Format(time.RFC3339Nano), "--reason", "copied off in a test"}
	// The current key: nothing is lost (the blocks it strands are re-sealed
	// under the next key), so no --force; it says a rotation is needed.
	out := mustCLI(t, revoke...)
	for _, want := range []string{"revoked", "copied off in a test", "current key", "rotate-key", "re-seals"} {
		if !strings.Contains(out, want) {
			t.Fatalf("revoke-key does not say %q:\n%s", want, out)
		}
	}

	p = start(t, cfgPath)
	p.waitFor(t, "a refused anchoring attempt", 60*time.Second, func(uint64, int) bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.failures > 0
	})
	// The status API says why blocks stay in the outbox.
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var status struct {
		Pipeline struct {
			LastAnchorError string `json:"last_anchor_error"`
		} `json:"pipeline"`
	}
	if code, body := get(t, "http://"+cfg.HTTP.Listen+"/api/status"); code != 200 || json.Unmarshal([]byte(body), &status) != nil ||
		!strings.Contains(status.Pipeline.LastAnchorError, "key "+keyID+" was revoked") {
		t.Errorf("status: %d %s", code, body)
	}
	p.stop(t)
	if _, anchored := p.state(); anchored != 0 {
		t.Fatalf("%d blocks anchored with the revoked key", anchored)
	}
	errs := strings.Join(p.errs, "\n")
	for _, want := range []string{"signing key is revoked", keyID, "signing key revoked", "never anchored"} {
		if !strings.Contains(errs, want) {
			t.Errorf("the appliance's errors do not say %q:\n%s", want, errs)
		}
	}

	// Anchored before the compromise: verifies. Anchored after: fails.
	verifySeqs(t, cfgPath, 1)
	n = loadNode(t, cfgPath)
	var late *store.BlockRecord
	err = n.Store.Blocks(0, func(b *store.BlockRecord) (bool, error) {
		if b.State == store.Anchored {
			late = b
		}
		return true, nil
	})
	n.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, code := runCLI(t, "verify", "--config", cfgPath, "--seq", strconv.FormatUint(late.LastSeq, 10))
	if code != 1 || !strings.Contains(out, keyID) {
		t.Fatalf("verify of block %d, anchored after the compromise: exit %d\n%s", late.Height, code, out)
	}
	since := time.Unix(0, 0)
	if text := mustCLI(t, "provenance", "--config", cfgPath, "--device", "press-1", "--from", since.UTC().Format(time.RFC3339)); !strings.Contains(text, "SIGNED BY REVOKED KEY "+keyID) {
		t.Errorf("provenance does not flag the blocks anchored after the compromise:\n%s", text)
	}
	t.Logf("start-up: %s\nanchoring: %s\nverify of block %d:\n%s", p.errs[0], p.errs[len(p.errs)-1], late.Height, out)

	resealAfterRotation(t, cfgPath, keyID, late.Height+1)
}

// resealAfterRotation rotates the key of an appliance whose current key
// was revoked with blocks in the outbox (KEYS-SPEC section 4): the new key
// starts at the cut, the first height the revoked key had not anchored,
// the next start re-seals the stranded blocks under it, and the chain
// moves on: every reading stored is anchored and verifies, those of the
// re-sealed heights under the new key, as provenance shows.
func resealAfterRotation(t *testing.T, cfgPath, revokedID string, cut uint64) {
	t.Helper()
	n := loadNode(t, cfgPath)
	stored, err := n.Store.NextSeq()
	n.Close()
	if err != nil {
		t.Fatal(err)
	}
	stored-- // the readings stored so far, all signed under the revoked key
	r := rotateKey(t, cfgPath)
	if r.oldID != revokedID || r.from != cut {
		t.Fatalf("rotation %+v: want key %s replaced from the cut, height %d", r, revokedID, cut)
	}
	p := startUntilAnchored(t, cfgPath, stored)
	logs := strings.Join(p.logs, "\n")
	if !strings.Contains(logs, "re-sealed the blocks a key revocation stranded") || !strings.Contains(logs, fmt.Sprintf(`"heights":"%d..`, cut)) {
		t.Fatalf("the start does not log the re-seal from height %d:\n%s", cut, p.tail())
	}
	checkResealed(t, cfgPath, stored, cut, revokedID, r.newID)
}

// startUntilAnchored runs the appliance until reading seq is anchored.
func startUntilAnchored(t *testing.T, cfgPath string, seq uint64) *proc {
	t.Helper()
	p := start(t, cfgPath)
	p.waitFor(t, fmt.Sprintf("reading %d anchored", seq), 90*time.Second, func(uint64, int) bool { return p.anchoredThrough(seq) })
	p.stop(t)
	return p
}

// checkResealed checks that nothing was lost: every reading of the stored
// ones is in an anchored block, the blocks from the cut under the new
// key, those below it under the revoked one; readings of the re-sealed
// heights verify, and provenance shows both keys.
func checkResealed(t *testing.T, cfgPath string, stored, cut uint64, revokedID, newID string) {
	t.Helper()
	n := loadNode(t, cfgPath)
	var inBlocks uint64
	var first *store.BlockRecord
	err := n.Store.Blocks(0, func(b *store.BlockRecord) (bool, error) {
		if b.FirstSeq > stored {
			return false, nil
		}
		if b.State != store.Anchored {
			return false, fmt.Errorf("block %d (readings %d..%d) is %s", b.Height, b.FirstSeq, b.LastSeq, b.State)
		}
		if want := map[bool]string{true: newID, false: revokedID}[b.Height >= cut]; b.KeyID != want {
			return false, fmt.Errorf("block %d under key %s, want %s", b.Height, b.KeyID, want)
		}
		if b.Height == cut {
			first = b
		}
		inBlocks += min(b.LastSeq, stored) - b.FirstSeq + 1
		return true, nil
	})
	n.Close()
	if err != nil {
		t.Fatal(err)
	}
	if inBlocks != stored || first == nil {
		t.Fatalf("%d of %d readings in anchored blocks (block %d: %v)", inBlocks, stored, cut, first)
	}
	verifySeqs(t, cfgPath, first.FirstSeq, stored)
	ids := provenanceKeys(t, cfgPath, "press-1", time.Unix(0, 0))
	if ids[newID] == 0 || ids[revokedID] == 0 {
		t.Fatalf("provenance shows keys %v, want %s on the re-sealed heights and %s below them", ids, newID, revokedID)
	}
	t.Logf("re-sealed from height %d (readings from %d), %d readings anchored; provenance keys %v", cut, first.FirstSeq, stored, ids)
}

// TestRevokeResealsTheOldKeysBacklog revokes a rotated-out key while
// blocks it sealed are still in the outbox (KEYS-SPEC section 4): revoke-key
// re-seals them under the current key at once, and the restarted appliance
// anchors them; nothing is lost and they verify under the new key.
func TestRevokeResealsTheOldKeysBacklog(t *testing.T) {
	cfgPath := writeConfig(t, t.TempDir(), 30, "1s")
	p := start(t, cfgPath)
	p.waitFor(t, "anchored blocks", 60*time.Second, func(_ uint64, anchored int) bool { return anchored >= 2 })
	p.kill(t) // readings not sealed yet: rotate-key seals them under the old key
	r := rotateKey(t, cfgPath)
	n := loadNode(t, cfgPath)
	stored, err := n.Store.NextSeq()
	outbox, oerr := n.Store.Outbox()
	n.Close()
	if err != nil || oerr != nil || len(outbox) == 0 {
		t.Fatalf("outbox after the rotation: %v, %v, %v; want the old key's backlog", outbox, err, oerr)
	}
	stored--
	cut := outbox[0]

	out := mustCLI(t, "revoke-key", "--config", cfgPath, "--key-id", r.oldID, "--compromised-at", time.Now().UTC().Format(time.RFC3339Nano))
	if want := fmt.Sprintf("re-sealed blocks %d..", cut); !strings.Contains(out, want) || !strings.Contains(out, "under key "+r.newID) {
		t.Fatalf("revoke-key does not say %q under key %s:\n%s", want, r.newID, out)
	}
	t.Logf("revoke-key:\n%s", out)
	p = startUntilAnchored(t, cfgPath, stored)
	if len(p.errs) > 0 {
		t.Fatalf("errors after the re-seal:\n%s", strings.Join(p.errs, "\n"))
	}
	checkResealed(t, cfgPath, stored, cut, r.oldID, r.newID)
}

// anchoredThrough reports whether the appliance logged the anchoring of a
// block holding reading seq or a later one.
func (p *proc) anchoredThrough(seq uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, line := range p.logs {
		var rec struct {
			Msg     string `json:"msg"`
			SeqLast uint64 `json:"seq_last"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "block anchored" && rec.SeqLast >= seq {
			return true
		}
	}
	return false
}

func keyIDOf(t *testing.T, path string) string {
	t.Helper()
	k, err := keys.LoadSigning(path)
	if err != nil {
		t.Fatal(err)
	}
	return format.KeyID(k.Public().(ed25519.PublicKey))
}

// TestStartRefusedWithoutTheStoresKey starts an appliance whose store holds
// blocks, once with its key file missing and once with another key in its
// place: both refused, naming the file; with the key restored it runs.
func TestStartRefusedWithoutTheStoresKey(t *testing.T) {
	dir, cfgPath, _ := anchorThree(t, 30)
	signPath := filepath.Join(dir, "data", "keys", "appliance.key")
	backup := filepath.Join(dir, "appliance.key.backup")
	if err := os.Rename(signPath, backup); err != nil {
		t.Fatal(err)
	}
	out, code := runCLI(t, "run", "--config", cfgPath)
	if code != 1 || !strings.Contains(out, signPath+" is missing") || !strings.Contains(out, "rotate-key") {
		t.Fatalf("start without the key: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(signPath); !os.IsNotExist(err) {
		t.Fatalf("a refused start wrote a key file: %v", err)
	}
	t.Logf("missing key: %s", lastLine(out))

	mustCLI(t, "keygen", "--out", signPath)
	out, code = runCLI(t, "run", "--config", cfgPath)
	if code != 1 || !strings.Contains(out, signPath) || !strings.Contains(out, "rotate-key") ||
		!strings.Contains(out, keyIDOf(t, signPath)) || !strings.Contains(out, keyIDOf(t, backup)) {
		t.Fatalf("start with a foreign key (%s; the store's is %s): exit %d\n%s", keyIDOf(t, signPath), keyIDOf(t, backup), code, out)
	}

	t.Logf("foreign key: %s", lastLine(out))
	if err := os.Rename(backup, signPath); err != nil {
		t.Fatal(err)
	}
	p := start(t, cfgPath)
	p.waitFor(t, "anchoring with the restored key", 60*time.Second, func(_ uint64, anchored int) bool { return anchored >= 1 })
	p.stop(t)
}

// runRotated starts the appliance after a rotation, waits for three blocks
// under the new key, stops it, and checks that the readings on both sides
// of the rotation verify and that provenance names both keys.
func runRotated(t *testing.T, cfgPath string, r rotation, since time.Time, wait time.Duration) {
	t.Helper()
	p := start(t, cfgPath)
	p.waitFor(t, "blocks under the new key", wait, func(_ uint64, anchored int) bool { return anchored >= 3 })
	p.stop(t)
	if len(p.errs) > 0 {
		t.Fatalf("errors after the rotation:\n%s", strings.Join(p.errs, "\n"))
	}
	verifySeqs(t, cfgPath, checkRotatedStore(t, cfgPath, r)...)
	ids := provenanceKeys(t, cfgPath, "press-1", since)
	if ids[r.oldID] == 0 || ids[r.newID] == 0 {
		t.Fatalf("provenance shows keys %v, want %s and %s", ids, r.oldID, r.newID)
	}
}
