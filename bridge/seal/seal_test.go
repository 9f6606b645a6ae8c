package seal

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/block"
	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/ingest"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/merkle"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/protocols"
)

const appID = "app-1"

type env struct {
	st    *store.Store
	in    *ingest.Ingester
	pub   ed25519.PublicKey
	priv  ed25519.PrivateKey
	owner hpke.PrivateKey
	clock time.Time
	polls [][2]uint64 // every ingested poll's seq range
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	kem, _ := hpke.NewKEM(keys.KEMX25519)
	owner, err := kem.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(st, appID, priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &env{st: st, in: in, pub: pub, priv: priv, owner: owner, clock: time.Unix(1_700_000_000, 0)}
}

func (e *env) sealer(t *testing.T, max int) *Sealer {
	t.Helper()
	s, err := New(e.st, appID, e.priv, []hpke.PublicKey{e.owner.PublicKey()}, max)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ingestPolls ingests one poll per size, alternating devices.
func (e *env) ingestPolls(t *testing.T, sizes ...int) {
	t.Helper()
	for _, n := range sizes {
		samples := make([]protocols.Sample, n)
		for i := range samples {
			samples[i] = protocols.Sample{Point: fmt.Sprintf("p%d", i), Value: float64(len(e.polls)*100 + i), Unit: "bar", Quality: protocols.Good}
		}
		e.clock = e.clock.Add(time.Second)
		dev := fmt.Sprintf("dev-%d", len(e.polls)%2)
		first, last, err := e.in.Ingest(dev, samples, e.clock)
		if err != nil {
			t.Fatal(err)
		}
		e.polls = append(e.polls, [2]uint64{first, last})
	}
}

func (e *env) isPollStart(seq uint64) bool {
	for _, p := range e.polls {
		if p[0] == seq {
			return true
		}
	}
	return false
}

func (e *env) isPollEnd(seq uint64) bool {
	for _, p := range e.polls {
		if p[1] == seq {
			return true
		}
	}
	return false
}

func ranges(recs []*store.BlockRecord) [][2]uint64 {
	out := make([][2]uint64, len(recs))
	for i, r := range recs {
		out[i] = [2]uint64{r.FirstSeq, r.LastSeq}
	}
	return out
}

// checkBlock decrypts a sealed block with the owner key and opens it.
func (e *env) checkBlock(t *testing.T, rec *store.BlockRecord) *block.Opened {
	t.Helper()
	obj, err := e.st.Object(rec.Height)
	if err != nil {
		t.Fatal(err)
	}
	if envelope.Hash(obj) != rec.ObjectHash {
		t.Fatalf("block %d: stored object does not hash to the record's object hash", rec.Height)
	}
	o, err := envelope.Parse(obj)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(o.Header, rec.Header) || !bytes.Equal(o.HeaderSig, rec.HeaderSig) {
		t.Fatalf("block %d: object header differs from the record", rec.Height)
	}
	plain, err := o.Open(e.owner)
	if err != nil {
		t.Fatalf("block %d: owner cannot decrypt: %v", rec.Height, err)
	}
	body, err := block.ParseBody(plain)
	if err != nil {
		t.Fatal(err)
	}
	h, err := block.ParseHeader(rec.Header)
	if err != nil {
		t.Fatalf("block %d: header: %v", rec.Height, err)
	}
	if err := block.VerifyHeaderSig(e.pub, rec.Header, rec.HeaderSig); err != nil {
		t.Fatalf("block %d: %v", rec.Height, err)
	}
	if block.ID(rec.Header) != rec.BlockID || h.Height != rec.Height || h.FirstSeq != rec.FirstSeq || h.LastSeq != rec.LastSeq {
		t.Fatalf("block %d: record %+v disagrees with header %+v", rec.Height, rec, h)
	}
	opened, err := block.Open(h, body, e.pub)
	if err != nil {
		t.Fatalf("block %d: block.Open refused a sealed block: %v", rec.Height, err)
	}
	for i, raw := range body.Readings {
		stored, err := e.st.Reading(rec.FirstSeq + uint64(i))
		if err != nil || !bytes.Equal(stored, raw) {
			t.Fatalf("block %d reading %d differs from the stored reading", rec.Height, i)
		}
	}
	return opened
}

// checkChain asserts every stored block: consecutive heights, prev links,
// consecutive seq ranges, whole polls, and contents.
func (e *env) checkChain(t *testing.T, max int) []*store.BlockRecord {
	t.Helper()
	var all []*store.BlockRecord
	if err := e.st.Blocks(0, func(r *store.BlockRecord) (bool, error) { all = append(all, r); return true, nil }); err != nil {
		t.Fatal(err)
	}
	var prevID string
	next := uint64(1)
	for i, rec := range all {
		if rec.Height != uint64(i) {
			t.Fatalf("block %d has height %d", i, rec.Height)
		}
		if rec.State != store.Sealed {
			t.Fatalf("new block %d is %s", i, rec.State)
		}
		h, err := block.ParseHeader(rec.Header)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(h.PrevHash) != prevID {
			t.Fatalf("block %d PrevHash %x, previous block id %s", i, h.PrevHash, prevID)
		}
		if rec.FirstSeq != next {
			t.Fatalf("block %d starts at %d, want %d", i, rec.FirstSeq, next)
		}
		if !e.isPollStart(rec.FirstSeq) || !e.isPollEnd(rec.LastSeq) {
			t.Fatalf("block %d (%d..%d) splits a poll (polls %v)", i, rec.FirstSeq, rec.LastSeq, e.polls)
		}
		if n := rec.LastSeq - rec.FirstSeq + 1; n > uint64(max) {
			// Only a single poll may exceed the limit.
			o := e.checkBlock(t, rec)
			if len(o.Polls) != 1 {
				t.Fatalf("block %d has %d readings > max %d in %d polls", i, n, max, len(o.Polls))
			}
		}
		e.checkBlock(t, rec)
		prevID = rec.BlockID
		next = rec.LastSeq + 1
	}
	return all
}

func TestSealWholePollsAndMax(t *testing.T) {
	cases := []struct {
		name       string
		max        int
		polls      []int
		noFlush    [][2]uint64 // blocks sealed by Seal(false)
		flushAfter [][2]uint64 // blocks then sealed by Seal(true)
	}{
		{"full blocks and a tail", 5, []int{2, 3, 1, 4, 2}, [][2]uint64{{1, 5}, {6, 10}}, [][2]uint64{{11, 12}}},
		{"poll would straddle the limit", 5, []int{3, 3, 3}, [][2]uint64{{1, 3}, {4, 6}}, [][2]uint64{{7, 9}}},
		{"exactly full at the end", 4, []int{1, 3}, [][2]uint64{{1, 4}}, nil},
		{"oversized poll gets its own block", 3, []int{2, 5, 1}, [][2]uint64{{1, 2}, {3, 7}}, [][2]uint64{{8, 8}}},
		{"oversized poll first", 3, []int{7, 1, 1}, [][2]uint64{{1, 7}}, [][2]uint64{{8, 9}}},
		{"oversized poll last", 3, []int{1, 6}, [][2]uint64{{1, 1}, {2, 7}}, nil},
		{"max one", 1, []int{1, 1, 2}, [][2]uint64{{1, 1}, {2, 2}, {3, 4}}, nil},
		{"only a partial block", 10, []int{2, 2}, nil, [][2]uint64{{1, 4}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			s := e.sealer(t, c.max)
			e.ingestPolls(t, c.polls...)
			got, err := s.Seal(false)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(ranges(got)) != fmt.Sprint(c.noFlush) {
				t.Fatalf("Seal(false) sealed %v, want %v", ranges(got), c.noFlush)
			}
			if again, err := s.Seal(false); err != nil || len(again) != 0 {
				t.Fatalf("second Seal(false) sealed %v, %v", ranges(again), err)
			}
			got, err = s.Seal(true)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(ranges(got)) != fmt.Sprint(c.flushAfter) {
				t.Fatalf("Seal(true) sealed %v, want %v", ranges(got), c.flushAfter)
			}
			if again, err := s.Seal(true); err != nil || len(again) != 0 {
				t.Fatalf("Seal(true) with nothing pending sealed %v, %v", ranges(again), err)
			}
			all := e.checkChain(t, c.max)
			if last := all[len(all)-1]; last.LastSeq != e.polls[len(e.polls)-1][1] {
				t.Fatalf("after flushing, readings up to %d are sealed, ingested up to %d", last.LastSeq, e.polls[len(e.polls)-1][1])
			}
			if out, _ := e.st.Outbox(); len(out) != len(all) {
				t.Fatalf("outbox holds %d blocks, %d sealed", len(out), len(all))
			}
		})
	}
}

func TestSealChainsAcrossCallsAndRestarts(t *testing.T) {
	e := newEnv(t)
	e.ingestPolls(t, 2, 1)
	if _, err := e.sealer(t, 3).Seal(true); err != nil {
		t.Fatal(err)
	}
	e.ingestPolls(t, 4)
	// A new sealer (appliance restart) continues the chain from the store.
	if _, err := e.sealer(t, 3).Seal(true); err != nil {
		t.Fatal(err)
	}
	e.ingestPolls(t, 1, 1, 1, 1)
	recs, err := e.sealer(t, 3).Seal(true)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Height != 2 || recs[1].Height != 3 {
		t.Fatalf("third round sealed %v", ranges(recs))
	}
	all := e.checkChain(t, 3)
	if len(all) != 4 {
		t.Fatalf("%d blocks, want 4", len(all))
	}
	// Block ids are distinct and the header encodes exactly the id chain.
	seen := map[string]bool{}
	for _, r := range all {
		if seen[r.BlockID] {
			t.Fatal("two blocks share an id")
		}
		seen[r.BlockID] = true
	}
}

func TestSealedHeaderSummarisesReadings(t *testing.T) {
	e := newEnv(t)
	e.ingestPolls(t, 2, 3)
	recs, err := e.sealer(t, 10).Seal(true)
	if err != nil || len(recs) != 1 {
		t.Fatalf("Seal: %v, %v", ranges(recs), err)
	}
	h, _ := block.ParseHeader(recs[0].Header)
	if fmt.Sprint(h.Devices) != "[dev-0 dev-1]" || h.Count != 5 || h.ApplianceID != appID || h.Height != 0 || len(h.PrevHash) != 0 {
		t.Fatalf("header %+v", h)
	}
	first, _ := e.st.Reading(1)
	last, _ := e.st.Reading(5)
	r1, _ := reading.Decode(first)
	r5, _ := reading.Decode(last)
	if h.FirstTime != r1.ApplianceTime || h.LastTime != r5.ApplianceTime || h.FirstTime == h.LastTime {
		t.Fatalf("header time range %d..%d, readings %d..%d", h.FirstTime, h.LastTime, r1.ApplianceTime, r5.ApplianceTime)
	}
	o := e.checkBlock(t, recs[0])
	if len(o.Polls) != 2 {
		t.Fatalf("block holds %d polls, want 2", len(o.Polls))
	}
}

func TestSealObjectNotForOthers(t *testing.T) {
	e := newEnv(t)
	e.ingestPolls(t, 1)
	recs, err := e.sealer(t, 1).Seal(true)
	if err != nil {
		t.Fatal(err)
	}
	obj, _ := e.st.Object(recs[0].Height)
	o, _ := envelope.Parse(obj)
	kem, _ := hpke.NewKEM(keys.KEMX25519)
	other, _ := kem.GenerateKey()
	if _, err := o.Open(other); err == nil {
		t.Fatal("a non-recipient decrypted the block")
	}
}

func TestNewValidates(t *testing.T) {
	e := newEnv(t)
	if _, err := New(e.st, appID, e.priv, []hpke.PublicKey{e.owner.PublicKey()}, 0); err == nil {
		t.Fatal("max readings 0 accepted")
	}
	if _, err := New(e.st, appID, e.priv, nil, 10); err == nil {
		t.Fatal("no recipients accepted")
	}
}

// TestSummariseParallelMatchesSequential checks that summarising a large
// block on several goroutines gives exactly the sequential result.
func TestSummariseParallelMatchesSequential(t *testing.T) {
	var raw [][]byte
	for i := range 5001 {
		r := &reading.Reading{ApplianceID: appID, DeviceID: fmt.Sprintf("dev-%d", i/700), Point: "p",
			ApplianceTime: 1_700_000_000_000_000_000 + int64((i*7919)%5001), Seq: uint64(i + 1)}
		if err := r.SetValue(float64(i)); err != nil {
			t.Fatal(err)
		}
		b, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b)
	}
	want, err := summariseOn(raw, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want.firstTime != 1_700_000_000_000_000_000 || want.lastTime != 1_700_000_000_000_005_000 || len(want.devices) != 8 {
		t.Fatalf("sequential summary %d..%d %v", want.firstTime, want.lastTime, want.devices)
	}
	for _, workers := range []int{2, 3, 4, 7, 5001, 9000} {
		got, err := summariseOn(raw, 1, workers)
		if err != nil {
			t.Fatal(err)
		}
		if got.firstTime != want.firstTime || got.lastTime != want.lastTime || !slices.Equal(got.devices, want.devices) {
			t.Fatalf("%d workers: %d..%d %v, want %d..%d %v", workers, got.firstTime, got.lastTime, got.devices, want.firstTime, want.lastTime, want.devices)
		}
		for i := range raw {
			if !bytes.Equal(got.leaves[i], reading.LeafHash(raw[i])) {
				t.Fatalf("%d workers: leaf %d differs", workers, i)
			}
		}
	}
}

// TestMerkleRootMatchesTree pins the sealer's root to the merkle package's
// tree, which proofs and verification use.
func TestMerkleRootMatchesTree(t *testing.T) {
	var leaves [][]byte
	for n := 1; n <= 260; n++ {
		leaves = append(leaves, reading.LeafHash([]byte(fmt.Sprint(n))))
		tree, err := merkle.New(leaves)
		if err != nil {
			t.Fatal(err)
		}
		root, err := merkleRoot(leaves)
		if err != nil || !bytes.Equal(root, tree.Root()) {
			t.Fatalf("%d leaves: root %x (%v), tree says %x", n, root, err, tree.Root())
		}
	}
	if _, err := merkleRoot(nil); err == nil {
		t.Fatal("root of no leaves")
	}
}

// TestScanSummaryMatchesDecode checks the sealer's field scan against a
// full decode for readings of every value type and quality, and that
// anything unexpected falls back to the decoder.
func TestScanSummaryMatchesDecode(t *testing.T) {
	values := []any{nil, 0.0, -1.5, 1e300, 3.25, int64(0), int64(-1), int64(23), int64(24), int64(-1 << 63), int64(1<<63 - 1),
		true, false, "", "text", strings.Repeat("long ", 40)}
	times := []int64{0, 1, -1, 23, 24, 255, 256, 65535, 65536, 1 << 32, 1_700_000_000_123_456_789, -1_700_000_000_000_000_000}
	n := 0
	for _, v := range values {
		for _, at := range times {
			n++
			r := &reading.Reading{ApplianceID: appID, DeviceID: fmt.Sprintf("dev-%d", n%7), Point: "p", Unit: "bar",
				Quality: protocols.Quality(n % 3), Reason: strings.Repeat("r", n%3), SourceTime: at / 2, ApplianceTime: at, Seq: uint64(n) << (n % 40)}
			if err := r.SetValue(v); err != nil {
				t.Fatal(err)
			}
			b, err := r.Encode()
			if err != nil {
				t.Fatal(err)
			}
			device, at2, ok := scanSummary(b)
			if !ok || string(device) != r.DeviceID || at2 != at {
				t.Fatalf("scan of %+v: %q %d %v", r, device, at2, ok)
			}
		}
	}
	good, _ := (&reading.Reading{ApplianceID: appID, DeviceID: "d", ApplianceTime: 5}).Encode()
	for name, b := range map[string][]byte{
		"empty":          nil,
		"not a map":      {0x01},
		"truncated":      good[:len(good)-1],
		"trailing bytes": append(slices.Clone(good), 0),
		"nested array":   {0xa2, 0x02, 0x61, 'd', 0x0c, 0x80},
		"keys reversed":  {0xa2, 0x0c, 0x05, 0x02, 0x61, 'd'},
		"no time":        {0xa1, 0x02, 0x61, 'd'},
		"indefinite":     {0xbf, 0x02, 0x61, 'd', 0x0c, 0x05, 0xff},
	} {
		if _, _, ok := scanSummary(b); ok {
			t.Errorf("%s: scan accepted % x", name, b)
		}
		if _, _, err := readSummary(b); err == nil {
			t.Errorf("%s: readSummary accepted % x", name, b)
		}
	}
}
