package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/objstore"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
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

// owned is one sealed reading as the owner's store holds it, with its block.
type owned struct {
	seq      uint64
	device   string
	at       int64 // appliance time, Unix ns
	blockID  string
	sealedAt int64
}

// ownerReadings lists every reading of every anchored block (what a
// partner can fetch), from the owner's store.
func ownerReadings(t *testing.T, cfgPath string) []owned {
	t.Helper()
	n := openNode(t, cfgPath)
	var out []owned
	err := n.Store.Blocks(0, func(b *store.BlockRecord) (bool, error) {
		if b.State != store.Anchored {
			return true, nil
		}
		h, err := format.ParseHeader(b.Header)
		if err != nil {
			return false, err
		}
		raws, err := n.Store.Readings(b.FirstSeq, b.LastSeq)
		if err != nil {
			return false, err
		}
		for _, raw := range raws {
			r, err := reading.Decode(raw)
			if err != nil {
				return false, err
			}
			out = append(out, owned{seq: r.Seq, device: r.DeviceID, at: r.ApplianceTime, blockID: b.BlockID, sealedAt: h.SealedAt})
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// blockIDs are the distinct blocks of rs, in order.
func blockIDs(rs []owned) []string {
	var out []string
	for _, r := range rs {
		if len(out) == 0 || out[len(out)-1] != r.blockID {
			out = append(out, r.blockID)
		}
	}
	return out
}

// opened is one reading as `wotchain decrypt` prints it.
type opened struct {
	Seq    uint64 `json:"seq"`
	Device string `json:"device"`
	Time   string `json:"time"`
}

// decrypted returns the readings key opens in a fetched block, by seq:
// none when decrypt refuses (no key of it opens anything).
func decrypted(t *testing.T, dir, blockID, key string) map[uint64]opened {
	t.Helper()
	out, code := runCLI(t, "decrypt", "--key", key, "--in", filepath.Join(dir, blockID+".block"))
	if code != 0 {
		return nil
	}
	got := map[uint64]opened{}
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var r opened
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("decrypt printed %q: %v", line, err)
		}
		got[r.Seq] = r
	}
	if len(got) == 0 {
		t.Fatalf("decrypt succeeded without readings:\n%s", out)
	}
	return got
}

// decryptAll is what key opens in every fetched block of blocks.
func decryptAll(t *testing.T, dir string, blocks []string, key string) map[uint64]opened {
	t.Helper()
	all := map[uint64]opened{}
	for _, id := range blocks {
		for seq, r := range decrypted(t, dir, id, key) {
			all[seq] = r
		}
	}
	return all
}

// exactness compares, reading by reading, what a partner decrypted with
// what its grants license: every licensed reading must be decrypted
// (device and time as the owner stored them), and nothing else. It
// returns the counts and fails the test on any difference.
func exactness(t *testing.T, what string, all []owned, got map[uint64]opened, licensed func(owned) bool) (granted, outside int) {
	t.Helper()
	known := map[uint64]bool{}
	var missing []uint64
	for _, r := range all {
		known[r.seq] = true
		d, have := got[r.seq]
		want := licensed(r)
		if want {
			granted++
		}
		switch {
		case want && !have:
			missing = append(missing, r.seq)
		case !want && have:
			outside++
			if outside <= 5 {
				t.Errorf("%s: reading %d (%s at %s) decrypted, not licensed", what, r.seq, r.device, rfc(r.at))
			}
		case have && (d.Device != r.device || d.Time != rfc(r.at)):
			t.Errorf("%s: reading %d decrypted as %s at %s, stored as %s at %s", what, r.seq, d.Device, d.Time, r.device, rfc(r.at))
		}
	}
	for seq := range got {
		if !known[seq] {
			t.Errorf("%s: decrypted reading %d is not in any anchored block", what, seq)
		}
	}
	if len(missing) > 0 || outside > 0 {
		t.Errorf("%s: %d readings licensed, %d decrypted, %d of them not licensed, %d licensed ones not decrypted (first: %v)",
			what, granted, len(got), outside, len(missing), missing[:min(len(missing), 5)])
	}
	return granted, outside
}

// fetchAll fetches, for the partner key, every anchored block holding a
// reading of the devices, to dir.
func fetchAll(t *testing.T, cfgPath, dir, key string, from int64, devices ...string) {
	t.Helper()
	for _, d := range devices {
		mustCLI(t, "fetch", "--config", cfgPath, "--device", d, "--from", rfc(from),
			"--to", rfc(time.Now().Add(time.Hour).UnixNano()), "--key", key, "--out", dir)
	}
}

// verifyFetched runs the partner's `verify --fetched` of reading seq.
func verifyFetched(t *testing.T, cfgPath, dir, blockID, key string, seq uint64) (string, int) {
	t.Helper()
	return runCLI(t, "verify", "--config", cfgPath, "--fetched", dir, "--block", blockID, "--key", key, "--seq", strconv.FormatUint(seq, 10))
}

// verifyGranted runs the partner's `verify --fetched` of each of rs, which
// must verify, and returns how many did.
func verifyGranted(t *testing.T, cfgPath, dir, key string, rs []owned) int {
	t.Helper()
	n := 0
	for _, r := range rs {
		out, code := verifyFetched(t, cfgPath, dir, r.blockID, key, r.seq)
		if code != 0 || !strings.Contains(out, fmt.Sprintf("reading %d: verified", r.seq)) {
			t.Errorf("partner verify of granted reading %d: exit %d\n%s", r.seq, code, out)
			continue
		}
		n++
	}
	return n
}

// refuseUngranted runs the partner's `verify --fetched` of reading r, not
// granted, which must fail at decrypt.
func refuseUngranted(t *testing.T, cfgPath, dir, key string, r owned) {
	t.Helper()
	out, code := verifyFetched(t, cfgPath, dir, r.blockID, key, r.seq)
	if code != 1 || !strings.Contains(out, "FAIL decrypt") {
		t.Errorf("partner verify of reading %d (%s, not granted): exit %d\n%s", r.seq, r.device, code, out)
	}
}

// licensedIn splits rs into the readings licensed and, of the blocks
// holding licensed ones, the first reading that is not.
func licensedIn(rs []owned, licensed func(owned) bool) (in []owned, ungranted *owned) {
	blocks := map[string]bool{}
	for _, r := range rs {
		if licensed(r) {
			in = append(in, r)
			blocks[r.blockID] = true
		}
	}
	for i, r := range rs {
		if !licensed(r) && blocks[r.blockID] {
			return in, &rs[i]
		}
	}
	return in, nil
}

// grantWindow picks a window of press-1's readings that cuts blocks: it
// starts at a poll in the middle of a block (one with several press-1
// polls) a quarter into the run and lasts span; the run must go on after
// it.
func grantWindow(t *testing.T, all []owned, span time.Duration) (from, to int64) {
	t.Helper()
	blocks := blockIDs(all)
	for _, id := range blocks[len(blocks)/4:] {
		var times []int64
		for _, r := range all {
			if r.blockID == id && r.device == "press-1" && !slices.Contains(times, r.at) {
				times = append(times, r.at)
			}
		}
		if len(times) >= 3 {
			from = times[len(times)/2]
			break
		}
	}
	if from == 0 {
		t.Fatalf("no block after the first quarter of %d holds three press-1 polls", len(blocks))
	}
	to = from + int64(span)
	if last := all[len(all)-1].at; last <= to {
		t.Fatalf("the run ends at %s, before the window's end %s", rfc(last), rfc(to))
	}
	return from, to
}

// blocksOf are the blocks holding readings licensed.
func blocksOf(all []owned, licensed func(owned) bool) []string {
	var out []string
	for _, r := range all {
		if licensed(r) && !slices.Contains(out, r.blockID) {
			out = append(out, r.blockID)
		}
	}
	return out
}

// windowLicense is what a grant of press-1 over [from, to] licenses.
func windowLicense(from, to int64) func(owned) bool {
	return func(r owned) bool { return r.device == "press-1" && r.at >= from && r.at <= to }
}

// cutBlocks counts the blocks holding both readings a grant licenses and
// readings it does not: a block-granular scheme would leak the latter.
func cutBlocks(all []owned, licensed func(owned) bool) int {
	in, out := map[string]bool{}, map[string]bool{}
	for _, r := range all {
		if licensed(r) {
			in[r.blockID] = true
		} else {
			out[r.blockID] = true
		}
	}
	n := 0
	for id := range in {
		if out[id] {
			n++
		}
	}
	return n
}

// TestLicensing: the owner grants a partner one device (press-1) over a
// window of a few seconds that cuts blocks; the running appliance
// delivers the keys of exactly those polls; the partner fetches and
// decrypts exactly the granted readings (that device, inside the window:
// none of the other devices' readings, none of press-1's outside it, even
// in the blocks the window cuts), and each verifies against the ledger. A
// third organisation's key opens nothing. An open grant of all devices,
// revoked, licenses the blocks sealed before the revocation and nothing
// sealed after it. A corrupted object is refused by fetch.
func TestLicensing(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, 30, "500ms")
	partnerKey := filepath.Join(dir, "partner.hpke")
	thirdKey := filepath.Join(dir, "third.hpke")
	mustCLI(t, "keygen", "--kind", "recipient", "--out", partnerKey)
	mustCLI(t, "keygen", "--kind", "recipient", "--kem", "mlkem768-x25519", "--out", thirdKey)
	devices := []string{"press-1", "boiler-1", "env-1"}

	p := start(t, cfgPath)
	p.waitFor(t, "six seconds of anchored blocks", 60*time.Second, func(_ uint64, anchored int) bool { return anchored >= 24 })
	p.stop(t)

	// Phase A: press-1 over a 2.5-second window cutting blocks.
	all := ownerReadings(t, cfgPath)
	from, to := grantWindow(t, all, 2500*time.Millisecond)
	inWindow := windowLicense(from, to)
	if n := cutBlocks(all, inWindow); n == 0 {
		t.Fatal("the window cuts no block")
	}
	windowBlocks := blocksOf(all, inWindow)
	mustCLI(t, "grant", "--config", cfgPath, "--id", "g-window", "--partner-msp", "PartnerMSP", "--partner-key", partnerKey+".pub",
		"--devices", "press-1", "--from", rfc(from), "--to", rfc(to))
	// A partner cannot be granted by itself: only the owner's ledger identity records grants,
	// and the owner cannot name itself as partner.
	if out, code := runCLI(t, "grant", "--config", cfgPath, "--id", "g-self", "--partner-msp", "local", "--partner-key", partnerKey+".pub",
		"--from", rfc(from), "--to", rfc(to)); code == 0 || !strings.Contains(out, "cannot grant itself") {
		t.Fatalf("self grant: exit %d\n%s", code, out)
	}
	p = start(t, cfgPath)
	p.waitFor(t, "keys delivered for the window's blocks", 60*time.Second, func(uint64, int) bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.delivered >= len(windowBlocks)
	})
	p.stop(t)

	fetched := filepath.Join(dir, "fetched-a")
	fetchAll(t, cfgPath, fetched, partnerKey+".pub", all[0].at, devices...)
	all = ownerReadings(t, cfgPath) // and the blocks of the second run
	blocks := blockIDs(all)
	got := decryptAll(t, fetched, blocks, partnerKey)
	granted, outside := exactness(t, "phase A", all, got, inWindow)
	t.Logf("phase A: %d readings in %d blocks, %d blocks cut by the window; press-1 granted over %s .. %s: %d readings granted, %d decrypted, %d outside the grant",
		len(all), len(blocks), cutBlocks(all, inWindow), rfc(from), rfc(to), granted, len(got), outside)
	if granted == 0 {
		t.Fatal("the window holds no reading")
	}
	for seq, r := range got {
		if r.Device != "press-1" {
			t.Errorf("decrypted reading %d of %s", seq, r.Device)
		}
		if at, err := time.Parse(time.RFC3339Nano, r.Time); err != nil || at.UnixNano() < from || at.UnixNano() > to {
			t.Errorf("decrypted reading %d at %s, outside the window (%v)", seq, r.Time, err)
		}
	}
	if third := decryptAll(t, fetched, blocks, thirdKey); len(third) != 0 {
		t.Errorf("a third organisation's key decrypts %d readings", len(third))
	}
	// Every decrypted reading verifies from what the partner fetched; a
	// reading of a block it holds keys for, but not granted, does not.
	in, ungranted := licensedIn(all, inWindow)
	verified := verifyGranted(t, cfgPath, fetched, partnerKey, in)
	t.Logf("phase A: %d of %d granted readings verified with `verify --fetched`", verified, granted)
	if ungranted == nil {
		t.Fatal("no ungranted reading in the blocks the window cuts")
	}
	refuseUngranted(t, cfgPath, fetched, partnerKey, *ungranted)

	// Phase B: an open grant of all devices, then revoked.
	mustCLI(t, "grant", "--config", cfgPath, "--id", "g-open", "--partner-msp", "PartnerMSP", "--partner-key", partnerKey+".pub",
		"--from", rfc(all[0].at), "--to", rfc(time.Now().Add(24*time.Hour).UnixNano()))
	p = start(t, cfgPath)
	p.waitFor(t, "new blocks", 60*time.Second, func(_ uint64, anchored int) bool { return anchored >= 3 })
	p.stop(t)
	mustCLI(t, "revoke", "--config", cfgPath, "--id", "g-open")
	p = start(t, cfgPath)
	p.waitFor(t, "blocks after the revocation", 60*time.Second, func(_ uint64, anchored int) bool { return anchored >= 3 })
	p.stop(t)
	if out := mustCLI(t, "grants", "--config", cfgPath); !strings.Contains(out, "g-open") || !strings.Contains(out, "revoked") {
		t.Fatalf("grants listing:\n%s", out)
	}
	open := grantOf(t, cfgPath, "g-open")
	if open.RevokedAt == 0 {
		t.Fatal("g-open is not revoked on the ledger")
	}

	fetched = filepath.Join(dir, "fetched-b")
	all = ownerReadings(t, cfgPath)
	fetchAll(t, cfgPath, fetched, partnerKey+".pub", all[0].at, devices...)
	blocks = blockIDs(all)
	got = decryptAll(t, fetched, blocks, partnerKey)
	licensed := func(r owned) bool {
		return inWindow(r) || (r.sealedAt < open.RevokedAt && r.at >= open.From && r.at <= open.To)
	}
	granted, outside = exactness(t, "phase B", all, got, licensed)
	after, afterBlocks := 0, map[string]bool{}
	for _, r := range all {
		if r.sealedAt >= open.RevokedAt {
			after++
			afterBlocks[r.blockID] = true
			if _, ok := got[r.seq]; ok {
				t.Errorf("reading %d sealed after the revocation is decrypted", r.seq)
			}
		}
	}
	t.Logf("phase B: %d readings licensed (the window, and all sealed before the revocation), %d decrypted, %d outside; %d readings in %d blocks sealed after the revocation, none decrypted",
		granted, len(got), outside, after, len(afterBlocks))
	if after == 0 {
		t.Fatal("no block was sealed after the revocation")
	}
	if third := decryptAll(t, fetched, blocks, thirdKey); len(third) != 0 {
		t.Errorf("a third organisation's key decrypts %d readings", len(third))
	}
	// A reading of another device licensed by the open grant verifies; one
	// sealed after the revocation does not.
	var before, later *owned
	for i, r := range all {
		if r.device == "boiler-1" && licensed(r) && before == nil {
			before = &all[i]
		}
		if r.sealedAt >= open.RevokedAt && later == nil {
			later = &all[i]
		}
	}
	if before == nil || later == nil {
		t.Fatalf("no boiler-1 reading licensed (%v) or none sealed after the revocation (%v)", before, later)
	}
	verifyGranted(t, cfgPath, fetched, partnerKey, []owned{*before})
	refuseUngranted(t, cfgPath, fetched, partnerKey, *later)

	// A corrupted and a truncated object are refused by fetch, never handed on.
	sealedPress := sealedBlocks(t, cfgPath, "press-1")
	objects := &objstore.FS{Dir: filepath.Join(dir, "data", "objects")}
	for i, damage := range []func([]byte) []byte{
		func(b []byte) []byte { b[len(b)/3] ^= 0x80; return b },
		func(b []byte) []byte { return b[:len(b)-100] },
	} {
		b := sealedPress[i+1].rec
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

// grantOf reads a grant as the ledger holds it.
func grantOf(t *testing.T, cfgPath, id string) *rules.Grant {
	t.Helper()
	n := openNode(t, cfgPath)
	for bookmark := ""; ; {
		page, err := n.Ledger.ListGrants(t.Context(), n.Cfg.Appliance.ID, 100, bookmark)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range page.Grants {
			if g.ID == id {
				return g
			}
		}
		if bookmark = page.Bookmark; bookmark == "" {
			t.Fatalf("no grant %s on the ledger", id)
		}
	}
}
