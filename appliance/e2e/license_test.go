package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/objstore"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
)

func rfc(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

type sealed struct {
	rec    *store.BlockRecord
	header *format.Header
}

func (s sealed) has(device string) bool {
	for _, d := range s.header.Devices {
		if d == device {
			return true
		}
	}
	return false
}

// sealedBlocks lists the blocks holding readings of device.
func sealedBlocks(t *testing.T, cfgPath, device string) []sealed {
	t.Helper()
	n := openNode(t, cfgPath)
	var out []sealed
	err := n.Store.Blocks(0, func(b *store.BlockRecord) (bool, error) {
		h, err := format.ParseHeader(b.Header)
		if s := (sealed{b, h}); err == nil && s.has(device) {
			out = append(out, s)
		}
		return true, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, code := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("wotchain %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// decryptable reports whether key opens the fetched block.
func decryptable(t *testing.T, dir, blockID, key string) bool {
	t.Helper()
	out, code := runCLI(t, "decrypt", "--key", key, "--in", filepath.Join(dir, blockID+".block"))
	if code == 0 && !strings.Contains(out, `"seq":`) {
		t.Fatalf("decrypt succeeded without readings:\n%s", out)
	}
	return code == 0
}

// TestLicensing: the owner grants a partner one device over a time range;
// the running appliance delivers exactly the covered blocks' keys; the
// partner fetches, decrypts and verifies those and no others; after a
// revocation, blocks sealed later get no key; a third organisation's key
// never opens anything; a corrupted object is refused by fetch.
func TestLicensing(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, 30, "500ms")
	partnerKey := filepath.Join(dir, "partner.hpke")
	thirdKey := filepath.Join(dir, "third.hpke")
	mustCLI(t, "keygen", "--kind", "recipient", "--out", partnerKey)
	mustCLI(t, "keygen", "--kind", "recipient", "--kem", "mlkem768-x25519", "--out", thirdKey)

	p := start(t, cfgPath)
	p.waitFor(t, "twelve anchored blocks", 60*time.Second, func(_ uint64, anchored int) bool { return anchored >= 12 })
	p.stop(t)

	// Phase A: press-1 over exactly the time of blocks 1..2.
	blocks := sealedBlocks(t, cfgPath, "press-1")
	if len(blocks) < 6 {
		t.Fatalf("only %d blocks hold press-1 readings", len(blocks))
	}
	b1, b2 := blocks[1].header, blocks[2].header
	mustCLI(t, "grant", "--config", cfgPath, "--id", "g-range", "--partner-msp", "PartnerMSP", "--partner-key", partnerKey+".pub",
		"--devices", "press-1", "--from", rfc(b1.FirstTime), "--to", rfc(b2.LastTime))
	// A partner cannot be granted by itself: only the owner's ledger identity records grants,
	// and the owner cannot name itself as partner.
	if out, code := runCLI(t, "grant", "--config", cfgPath, "--id", "g-self", "--partner-msp", "local", "--partner-key", partnerKey+".pub",
		"--from", rfc(b1.FirstTime), "--to", rfc(b2.LastTime)); code == 0 || !strings.Contains(out, "cannot grant itself") {
		t.Fatalf("self grant: exit %d\n%s", code, out)
	}
	p = start(t, cfgPath)
	p.waitFor(t, "keys delivered for the range", 60*time.Second, func(uint64, int) bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.delivered >= 2
	})
	p.stop(t)

	fetched := filepath.Join(dir, "fetched-a")
	all := []string{"fetch", "--config", cfgPath, "--device", "press-1", "--from", rfc(blocks[0].header.FirstTime),
		"--to", rfc(time.Now().Add(time.Hour).UnixNano()), "--key", partnerKey + ".pub", "--out", fetched}
	mustCLI(t, all...)
	for i, b := range blocks[:6] {
		inRange := b.header.LastTime >= b1.FirstTime && b.header.FirstTime <= b2.LastTime
		if got := decryptable(t, fetched, b.rec.BlockID, partnerKey); got != inRange {
			t.Errorf("phase A, block %d: partner decrypts = %v, covered by the grant = %v", i, got, inRange)
		}
		if decryptable(t, fetched, b.rec.BlockID, thirdKey) {
			t.Errorf("block %d: a third organisation's key decrypts it", i)
		}
	}
	// The partner verifies a reading of a licensed block from what it fetched.
	out := mustCLI(t, "verify", "--config", cfgPath, "--fetched", fetched, "--block", blocks[1].rec.BlockID,
		"--key", partnerKey, "--seq", strconv.FormatUint(blocks[1].rec.FirstSeq, 10))
	if !strings.Contains(out, "reading "+strconv.FormatUint(blocks[1].rec.FirstSeq, 10)+": verified") {
		t.Fatalf("partner verify:\n%s", out)
	}
	if out, code := runCLI(t, "verify", "--config", cfgPath, "--fetched", fetched, "--block", blocks[4].rec.BlockID,
		"--key", partnerKey, "--seq", strconv.FormatUint(blocks[4].rec.FirstSeq, 10)); code != 1 || !strings.Contains(out, "FAIL decrypt") {
		t.Fatalf("partner verify of an unlicensed block: exit %d\n%s", code, out)
	}

	// Phase B: an open-ended grant for all devices, then revoked.
	mustCLI(t, "grant", "--config", cfgPath, "--id", "g-open", "--partner-msp", "PartnerMSP", "--partner-key", partnerKey+".pub",
		"--from", rfc(blocks[0].header.FirstTime), "--to", rfc(time.Now().Add(24*time.Hour).UnixNano()))
	p = start(t, cfgPath)
	p.waitFor(t, "new blocks", 60*time.Second, func(_ uint64, anchored int) bool { return anchored >= 3 })
	p.stop(t)
	mustCLI(t, "revoke", "--config", cfgPath, "--id", "g-open")
	revokedAt := time.Now().UnixNano()
	p = start(t, cfgPath)
	p.waitFor(t, "blocks after the revocation", 60*time.Second, func(_ uint64, anchored int) bool { return anchored >= 3 })
	p.stop(t)
	if out := mustCLI(t, "grants", "--config", cfgPath); !strings.Contains(out, "g-open") || !strings.Contains(out, "revoked") {
		t.Fatalf("grants listing:\n%s", out)
	}

	fetched = filepath.Join(dir, "fetched-b")
	all[len(all)-1] = fetched
	mustCLI(t, all...)
	blocks = sealedBlocks(t, cfgPath, "press-1")
	after := 0
	for i, b := range blocks {
		licensed := b.header.SealedAt < revokedAt-int64(time.Second) // sealed clearly before the revocation
		if b.header.SealedAt > revokedAt {
			after++
			inRange := b.header.LastTime >= b1.FirstTime && b.header.FirstTime <= b2.LastTime
			if decryptable(t, fetched, b.rec.BlockID, partnerKey) != inRange {
				t.Errorf("block %d sealed after the revocation: partner decrypts it", i)
			}
		} else if licensed && !decryptable(t, fetched, b.rec.BlockID, partnerKey) {
			t.Errorf("block %d sealed before the revocation: partner cannot decrypt it", i)
		}
		if decryptable(t, fetched, b.rec.BlockID, thirdKey) {
			t.Errorf("block %d: a third organisation's key decrypts it", i)
		}
	}
	if after == 0 {
		t.Fatal("no block was sealed after the revocation")
	}

	// A corrupted and a truncated object are refused by fetch, never handed on.
	objects := &objstore.FS{Dir: filepath.Join(dir, "data", "objects")}
	for i, damage := range []func([]byte) []byte{
		func(b []byte) []byte { b[len(b)/3] ^= 0x80; return b },
		func(b []byte) []byte { return b[:len(b)-100] },
	} {
		b := blocks[i+1].rec
		path := objects.Path(b.ObjectHash)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, damage(data), 0o640); err != nil {
			t.Fatal(err)
		}
		out, code := runCLI(t, "fetch", "--config", cfgPath, "--block", b.BlockID, "--key", partnerKey, "--out", filepath.Join(dir, "damaged"))
		if code != 1 || !strings.Contains(out, "corrupted or truncated in storage") {
			t.Fatalf("fetch of damaged block %d: exit %d\n%s", i+1, code, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "damaged", b.BlockID+".block")); !os.IsNotExist(err) {
			t.Fatalf("a damaged object was written by fetch: %v", err)
		}
	}
}
