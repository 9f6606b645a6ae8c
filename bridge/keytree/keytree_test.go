package keytree

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wotchain/wotchain/chaincode/format"
)

// The reference derivation: the spec's formulas written straight down with
// crypto/hmac (HKDF too, by RFC 5869's two steps), recursive, no cache.

func refHMAC(key []byte, msg ...[]byte) [32]byte {
	m := hmac.New(sha256.New, key)
	for _, b := range msg {
		m.Write(b)
	}
	return [32]byte(m.Sum(nil))
}

func refSecret(seed []byte) [32]byte {
	prk := refHMAC(make([]byte, 32), seed) // extract, empty salt = 32 zero bytes
	return refHMAC(prk[:], []byte("wotchain/v2/key-tree"), []byte{1})
}

func refKey(secret [32]byte, device string, level uint8, index uint64) [32]byte {
	if level == 0 {
		return refHMAC(secret[:], []byte("wotchain/v2/device"), []byte{0}, []byte(device))
	}
	parent := refKey(secret, device, level-1, index/2)
	return refHMAC(parent[:], []byte{byte(index % 2)})
}

func newRand(t testing.TB) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	t.Logf("rand seed %d", seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

func hexKey(t *testing.T, s string) [32]byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		t.Fatalf("bad vector %q", s)
	}
	return [32]byte(b)
}

func testTree() (*Tree, [32]byte) {
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i)
	}
	s := TreeSecret(ed25519.NewKeyFromSeed(seed))
	return New(s), s
}

// TestKnownAnswers pins vectors computed outside Go (Python's hmac and
// hashlib, from the spec's formulas) for the seed 00 01 .. 1f.
func TestKnownAnswers(t *testing.T) {
	tree, s := testTree()
	if want := hexKey(t, "ff69ef2312fdffb83d95970166d2063654f9ddd934e00843966def20702f6856"); s != want {
		t.Fatalf("TreeSecret = %x, want %x", s, want)
	}
	for _, v := range []struct {
		device string
		level  uint8
		index  uint64
		key    string
	}{
		{"press-1", 0, 0, "930b7ba35c2589354ee470574bc71cfed13a1d39a225ab80ca66631ca93aa518"},
		{"press-1", 40, 0, "fbb86191f568849c3b4eed7570b2534aab9cc07a3ab66e5688e852e1084e90d9"},
		{"press-1", 40, 1, "72e614f20f47341c7c6af5352d3eb8752f36858917b7c13aa2c1e1ff21b367cb"},
		{"press-1", 40, 12345, "750c10f1ace9015aa899ba21d60460cbee1903c34dd6fdea9df8e675bf74d7ca"},
		{"boiler-1", 40, 1<<40 - 1, "646fd0a5f21038eb1eac7f59bf1adf255c86555e79391fb094f5405e643a4ad7"},
		{"press-1", 37, 5, "3629f8d3e67537afaff3f27961870853ea64fa38900e5bacb44e44aaad81994b"},
	} {
		want := hexKey(t, v.key)
		var got [32]byte
		if v.level == Depth {
			got = tree.PollKey(v.device, v.index)
		} else {
			pa := tree.path(v.device) // an inner node, as Cover derives it
			got = pa.node(v.level, v.index)
		}
		if got != want {
			t.Errorf("K(%s, %d, %d) = %x, want %x", v.device, v.level, v.index, got, want)
		}
	}
	p := tree.PollKey("press-1", 12345)
	if got, want := Salt(p, 0), hexKey(t, "0878aac6cdcca67c004afc1fc6861b07"+"00000000000000000000000000000000"); got != [16]byte(want[:16]) {
		t.Errorf("Salt(0) = %x", got)
	}
	if got, want := Salt(p, 7), hexKey(t, "5bbde09797a8d8fa3fe441541c92150f"+"00000000000000000000000000000000"); got != [16]byte(want[:16]) {
		t.Errorf("Salt(7) = %x", got)
	}
	if got, want := SectionKey(p), hexKey(t, "18c2344f21c3e4f82875e925473e9e972313cd13eb78052d1d1421d3b863d52c"); got != want {
		t.Errorf("SectionKey = %x, want %x", got, want)
	}
}

func rangeOf(first, n uint64) []uint64 {
	ps := make([]uint64, n)
	for i := range ps {
		ps[i] = first + uint64(i)
	}
	return ps
}

// TestMatchesReference: the cached tree, driven in a random order (runs,
// jumps, revisits, several devices, node covers in between), gives the
// reference's keys, and salts and section keys are the spec's HMACs.
func TestMatchesReference(t *testing.T) {
	r := newRand(t)
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(r.Uint32())
	}
	s := TreeSecret(ed25519.NewKeyFromSeed(seed))
	if want := refSecret(seed); s != want {
		t.Fatalf("TreeSecret = %x, reference %x", s, want)
	}
	tree := New(s)
	devices := []string{"press-1", "boiler-1", "agg.press-1", "ü"}
	p := uint64(0)
	for range 300 {
		d := devices[r.IntN(len(devices))]
		switch r.IntN(4) {
		case 0:
			p = r.Uint64N(MaxPolls)
		case 1:
			p = (p + 1) % MaxPolls
		case 2:
			p = r.Uint64N(64)
		case 3:
			first := r.Uint64N(MaxPolls - 100)
			for _, n := range tree.Cover(d, rangeOf(first, 1+r.Uint64N(100))) {
				if want := refKey(s, d, n.Level, n.Index); n.Key != want {
					t.Fatalf("cover node %s (%d, %d) = %x, reference %x", d, n.Level, n.Index, n.Key, want)
				}
			}
			continue
		}
		got, want := tree.PollKey(d, p), refKey(s, d, Depth, p)
		if got != want {
			t.Fatalf("PollKey(%s, %d) = %x, reference %x", d, p, got, want)
		}
		j := r.Uint64()
		var be [8]byte
		binary.BigEndian.PutUint64(be[:], j)
		if salt, ref := Salt(got, j), refHMAC(got[:], []byte("wotchain/v2/salt\x00"), be[:]); salt != [16]byte(ref[:16]) {
			t.Fatalf("Salt(%d) = %x, reference %x", j, salt, ref[:16])
		}
		if sk, ref := SectionKey(got), refHMAC(got[:], []byte("wotchain/v2/section")); sk != ref {
			t.Fatalf("SectionKey = %x, reference %x", sk, ref)
		}
	}
	if tree.PollKey("a", 0) == tree.PollKey("b", 0) {
		t.Fatal("two devices share a poll key")
	}
}

// TestConsecutiveCost: the keys of a device's consecutive polls cost about
// two HMACs each (a leaf and, every other poll, its parent, ...).
func TestConsecutiveCost(t *testing.T) {
	r := newRand(t)
	tree, _ := testTree()
	const n = 4096
	start := r.Uint64N(MaxPolls - n)
	tree.PollKey("press-1", start)
	pa := tree.paths["press-1"]
	before := pa.hmacs
	for p := start + 1; p < start+n; p++ {
		tree.PollKey("press-1", p)
	}
	cost := pa.hmacs - before
	t.Logf("%d consecutive poll keys: %d HMACs (%.2f each)", n-1, cost, float64(cost)/(n-1))
	if cost > 2*n+Depth {
		t.Fatalf("%d consecutive poll keys cost %d HMACs, want <= %d", n-1, cost, 2*n+Depth)
	}
}

func TestConcurrentUse(t *testing.T) {
	tree, s := testTree()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			d := fmt.Sprintf("dev-%d", g%3) // goroutines share devices
			for p := uint64(g * 7); p < uint64(g*7+40); p++ {
				if got, want := tree.PollKey(d, p), refKey(s, d, Depth, p); got != want {
					errs <- fmt.Errorf("PollKey(%s, %d) = %x, want %x", d, p, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// bruteCover is the minimal partition of set into aligned subtrees, found
// top down: a node inside the set is one part, a node outside it none, and
// a node partly inside is split. It shares no code with cover.
func bruteCover(set map[uint64]bool, level uint8, index uint64) []span {
	first := index << (Depth - level)
	size := uint64(1) << (Depth - level)
	in := 0
	for p := range set {
		if p >= first && p-first < size {
			in++
		}
	}
	switch {
	case in == 0:
		return nil
	case uint64(in) == size:
		return []span{{level, index}}
	}
	return append(bruteCover(set, level+1, 2*index), bruteCover(set, level+1, 2*index+1)...)
}

// checkCover checks that nodes partition exactly the set, in order, each
// node maximal (its parent is not inside the set), and that nodes is as
// small as the brute-force minimal cover.
func checkCover(t *testing.T, nodes []Node, polls []uint64) {
	t.Helper()
	set := map[uint64]bool{}
	for _, p := range polls {
		set[p] = true
	}
	var covered uint64
	for i, n := range nodes {
		if !n.valid() {
			t.Fatalf("node %d invalid: %+v", i, n)
		}
		if i > 0 && nodes[i-1].Last() >= n.First() {
			t.Fatalf("nodes %d and %d overlap or are out of order: %v", i-1, i, nodes)
		}
		for p := n.First(); p <= n.Last(); p++ {
			if !set[p] {
				t.Fatalf("node (%d, %d) covers poll %d, not in the set %v", n.Level, n.Index, p, polls)
			}
		}
		covered += n.Last() - n.First() + 1
		if n.Level > 0 {
			parent := Node{Level: n.Level - 1, Index: n.Index / 2}
			inside := true
			for p := parent.First(); p <= parent.Last() && inside; p++ {
				inside = set[p]
			}
			if inside {
				t.Fatalf("node (%d, %d) is not maximal: its parent is inside the set", n.Level, n.Index)
			}
		}
	}
	if covered != uint64(len(set)) {
		t.Fatalf("nodes cover %d polls, the set has %d", covered, len(set))
	}
	if want := bruteCover(set, 0, 0); len(nodes) != len(want) {
		t.Fatalf("cover has %d nodes, the minimal cover %d: %v vs %v", len(nodes), len(want), nodes, want)
	}
}

// TestCoverExhaustive: every subset of 10 consecutive positions, at bases
// with different alignments, has the exact minimal cover.
func TestCoverExhaustive(t *testing.T) {
	tree, _ := testTree()
	for _, base := range []uint64{0, 1, 6, 1021, MaxPolls - 10} {
		for mask := range 1 << 10 {
			var polls []uint64
			for b := range 10 {
				if mask&(1<<b) != 0 {
					polls = append(polls, base+uint64(b))
				}
			}
			checkCover(t, tree.Cover("d", polls), polls)
		}
	}
}

// randomSet draws a poll set of one of several shapes, unsorted, with
// duplicates.
func randomSet(r *rand.Rand) []uint64 {
	base := []uint64{0, r.Uint64N(1 << 20), MaxPolls - 300}[r.IntN(3)]
	var ps []uint64
	switch r.IntN(3) {
	case 0: // a few runs
		for range 1 + r.IntN(4) {
			first := base + r.Uint64N(200)
			ps = append(ps, rangeOf(first, r.Uint64N(min(100, base+300-first)))...)
		}
	case 1: // sparse
		for range r.IntN(40) {
			ps = append(ps, base+r.Uint64N(300))
		}
	case 2: // dense with holes
		for p := base; p < base+300; p++ {
			if r.IntN(8) != 0 {
				ps = append(ps, p)
			}
		}
	}
	ps = append(ps, ps[:len(ps)/5]...) // duplicates
	r.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
	return ps
}

// TestCoverProperties: a random set's cover reveals exactly the set, with
// the tree's keys, and is minimal.
func TestCoverProperties(t *testing.T) {
	r := newRand(t)
	tree, _ := testTree()
	for range 200 {
		polls := randomSet(r)
		nodes := tree.Cover("press-1", polls)
		checkCover(t, nodes, polls)
		if len(polls) == 0 {
			if nodes != nil {
				t.Fatalf("cover of nothing = %v", nodes)
			}
			continue
		}
		set := map[uint64]bool{}
		lo, hi := polls[0], polls[0]
		for _, p := range polls {
			set[p] = true
			lo, hi = min(lo, p), max(hi, p)
		}
		for p := lo - min(lo, 3); p <= hi+3 && p < MaxPolls; p++ {
			k, ok := KeyOf(nodes, "press-1", p)
			if ok != set[p] {
				t.Fatalf("KeyOf(%d) = %v, in set %v", p, ok, set[p])
			}
			if ok && k != tree.PollKey("press-1", p) {
				t.Fatalf("KeyOf(%d) = %x, tree %x", p, k, tree.PollKey("press-1", p))
			}
		}
		if _, ok := KeyOf(nodes, "press-2", lo); ok {
			t.Fatal("a cover of press-1 gives a key of press-2")
		}
	}
}

// TestCoverSize: one device's 12 consecutive polls, at every alignment, are
// at most 2*ceil(log2(12)) = 8 nodes, under 600 bytes encoded.
func TestCoverSize(t *testing.T) {
	tree, _ := testTree()
	maxNodes, maxBytes := 0, 0
	for _, base := range append(rangeOf(0, 64), rangeOf(MaxPolls-64-12, 64)...) {
		nodes := tree.Cover("boiler-12", rangeOf(base, 12))
		b, err := EncodeKeySet(nodes)
		if err != nil {
			t.Fatal(err)
		}
		maxNodes, maxBytes = max(maxNodes, len(nodes)), max(maxBytes, len(b))
	}
	t.Logf("12 consecutive polls: at most %d nodes, %d bytes encoded", maxNodes, maxBytes)
	if maxNodes > 2*bits.Len(12-1) || maxBytes >= 600 {
		t.Fatalf("12 consecutive polls: up to %d nodes (want <= %d), %d bytes (want < 600)", maxNodes, 2*bits.Len(12-1), maxBytes)
	}
	if n := len(tree.Cover("d", rangeOf(1, 1000))); n > 2*bits.Len(1000) {
		t.Fatalf("1,000 consecutive polls: %d nodes", n)
	}
}

// TestRestrict: from a cover of a set, the cover of any subset is derived
// (equal to Cover's, keys included); a poll outside the set is refused.
func TestRestrict(t *testing.T) {
	r := newRand(t)
	tree, _ := testTree()
	for range 200 {
		polls := randomSet(r)
		if len(polls) == 0 {
			continue
		}
		full := append(tree.Cover("press-1", polls), tree.Cover("boiler-1", polls)...)
		var sub []uint64
		for _, p := range polls {
			if r.IntN(3) != 0 {
				sub = append(sub, p)
			}
		}
		got, err := Restrict(full, "press-1", sub)
		if err != nil {
			t.Fatal(err)
		}
		if want := tree.Cover("press-1", sub); !slices.Equal(got, want) {
			t.Fatalf("Restrict = %v\nCover = %v", got, want)
		}
		set := map[uint64]bool{}
		for _, p := range polls {
			set[p] = true
		}
		outside := r.Uint64N(MaxPolls)
		for set[outside] {
			outside = r.Uint64N(MaxPolls)
		}
		if _, err := Restrict(full, "press-1", append(sub, outside)); err == nil {
			t.Fatalf("Restrict gave poll %d, not in the key set", outside)
		}
		if _, err := Restrict(full, "env-1", polls[:1]); err == nil {
			t.Fatal("Restrict gave a poll of a device not in the key set")
		}
	}
}

// TestRestrictSplitSet: from a non-minimal key set (a node given as its two
// children), a subset needing the parent gets the children, never a key
// derived upward.
func TestRestrictSplitSet(t *testing.T) {
	tree, _ := testTree()
	split := slices.Concat(tree.Cover("d", rangeOf(0, 4)), tree.Cover("d", rangeOf(4, 4)))
	got, err := Restrict(split, "d", rangeOf(0, 8))
	if err != nil {
		t.Fatal(err)
	}
	if want := split; !slices.Equal(got, want) {
		t.Fatalf("Restrict of a split set = %v, want %v", got, want)
	}
	overlapping := slices.Concat(tree.Cover("d", rangeOf(0, 8)), tree.Cover("d", rangeOf(0, 4)))
	if _, err := Restrict(overlapping, "d", rangeOf(0, 2)); err == nil {
		t.Fatal("Restrict accepted overlapping nodes")
	}
}

// TestNodeRevealsDescendantsOnly: a node's key gives its own leaves and no
// sibling's, parent's or other device's (KeyOf refuses, and the keys
// differ).
func TestNodeRevealsDescendantsOnly(t *testing.T) {
	tree, _ := testTree()
	node := tree.Cover("d", rangeOf(8, 8)) // (37, 1): polls 8..15
	if len(node) != 1 || node[0].Level != 37 || node[0].Index != 1 {
		t.Fatalf("cover of 8..15 = %v", node)
	}
	for p := uint64(0); p < 32; p++ {
		_, ok := KeyOf(node, "d", p)
		if ok != (p >= 8 && p < 16) {
			t.Errorf("KeyOf(node 8..15, %d) = %v", p, ok)
		}
	}
	if _, err := Restrict(node, "d", rangeOf(0, 16)); err == nil {
		t.Error("Restrict derived the parent (0..15) from a child")
	}
	if _, err := Restrict(node, "d", []uint64{7}); err == nil {
		t.Error("Restrict derived the sibling's poll 7")
	}
	sibling, parent := tree.Cover("d", rangeOf(0, 8)), tree.Cover("d", rangeOf(0, 16))
	if sibling[0].Key == node[0].Key || parent[0].Key == node[0].Key {
		t.Error("a node shares its key with its sibling or parent")
	}
	if _, ok := KeyOf(node, "e", 8); ok {
		t.Error("a node of d gives a key of e")
	}
}

func TestKeySetRoundTrip(t *testing.T) {
	tree, _ := testTree()
	nodes := slices.Concat(tree.Cover("press-1", []uint64{3, 4, 5, 6, 7, 20}), tree.Cover("boiler-1", rangeOf(0, 5)))
	b, err := EncodeKeySet(nodes)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseKeySet(b)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Concat(tree.Cover("boiler-1", rangeOf(0, 5)), tree.Cover("press-1", []uint64{3, 4, 5, 6, 7, 20}))
	if !slices.Equal(got, want) {
		t.Fatalf("round trip = %v, want %v (sorted by device, then first poll)", got, want)
	}
	if b, err := EncodeKeySet(nil); err != nil || len(b) != 1 || b[0] != 0x80 {
		t.Fatalf("empty key set = %x, %v; want an empty array", b, err)
	}
	for name, bad := range map[string][]Node{
		"overlap":   slices.Concat(tree.Cover("d", rangeOf(0, 4)), tree.Cover("d", rangeOf(2, 1))),
		"duplicate": slices.Concat(tree.Cover("d", rangeOf(0, 4)), tree.Cover("d", rangeOf(0, 4))),
		"level":     {{Device: "d", Level: 41}},
		"index":     {{Device: "d", Level: 3, Index: 8}},
		"no device": {{Level: 3, Index: 1}},
	} {
		if _, err := EncodeKeySet(bad); err == nil {
			t.Errorf("EncodeKeySet accepted a set with %s", name)
		}
	}
}

// wire encodes raw nodes as a key set would, without any check.
func wire(t *testing.T, nodes ...any) []byte {
	t.Helper()
	b, err := formatMarshal(nodes)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseKeySetRefuses(t *testing.T) {
	key := make([]byte, 32)
	n := func(d string, level uint8, index uint64) map[uint64]any {
		return map[uint64]any{1: d, 2: level, 3: index, 4: key}
	}
	good := wire(t, n("a", 39, 3), n("a", 40, 8), n("b", 0, 0))
	if _, err := ParseKeySet(good); err != nil {
		t.Fatalf("valid set refused: %v", err)
	}
	nonMinimal := wire(t, n("a", 39, 3))
	nonMinimal = slices.Concat(nonMinimal[:len(nonMinimal)-len(key)-2-3], []byte{0x18, 0x03}, nonMinimal[len(nonMinimal)-len(key)-2-2:])
	for name, data := range map[string][]byte{
		"level 41":          wire(t, n("a", 41, 0)),
		"index 2^level":     wire(t, n("a", 3, 8)),
		"duplicate":         wire(t, n("a", 39, 3), n("a", 39, 3)),
		"overlap":           wire(t, n("a", 39, 3), n("a", 40, 7)),
		"parent after":      wire(t, n("a", 40, 6), n("a", 39, 3)),
		"out of order":      wire(t, n("a", 40, 9), n("a", 40, 8)),
		"devices unsorted":  wire(t, n("b", 0, 0), n("a", 0, 0)),
		"short key":         wire(t, map[uint64]any{1: "a", 2: 1, 3: 0, 4: key[:31]}),
		"long key":          wire(t, map[uint64]any{1: "a", 2: 1, 3: 0, 4: append(key, 0)}),
		"no key":            wire(t, map[uint64]any{1: "a", 2: 1, 3: 0}),
		"no level":          wire(t, map[uint64]any{1: "a", 3: 0, 4: key}),
		"no device":         wire(t, map[uint64]any{2: 1, 3: 0, 4: key}),
		"unknown field":     wire(t, map[uint64]any{1: "a", 2: 1, 3: 0, 4: key, 5: 0}),
		"negative index":    wire(t, map[uint64]any{1: "a", 2: 1, 3: -1, 4: key}),
		"level 256":         wire(t, map[uint64]any{1: "a", 2: 256, 3: 0, 4: key}),
		"null":              {0xf6},
		"trailing bytes":    append(slices.Clone(good), 0x00),
		"not an array":      {0xa0},
		"non-minimal index": nonMinimal,
	} {
		if nodes, err := ParseKeySet(data); err == nil {
			t.Errorf("ParseKeySet accepted %s (%x) as %v", name, data, nodes)
		}
	}
	if _, err := ParseKeySet(wire(t, n("a", 39, 3))); err != nil {
		t.Fatalf("the non-minimal case's base is itself refused: %v", err)
	}
}

func FuzzParseKeySet(f *testing.F) {
	tree, _ := testTree()
	for _, nodes := range [][]Node{
		nil,
		tree.Cover("press-1", rangeOf(1, 12)),
		slices.Concat(tree.Cover("a", []uint64{0, 2, 5, 6, 7}), tree.Cover("b", rangeOf(MaxPolls-3, 3))),
		tree.Cover("agg.env-1", rangeOf(0, 1<<10)),
	} {
		b, err := EncodeKeySet(nodes)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		nodes, err := ParseKeySet(data)
		if err != nil {
			return
		}
		again, err := EncodeKeySet(nodes)
		if err != nil || string(again) != string(data) {
			t.Fatalf("parsed set re-encodes as %x, %v", again, err)
		}
		for _, n := range nodes {
			for _, p := range []uint64{n.First(), n.Last()} {
				k, ok := KeyOf(nodes, n.Device, p)
				if !ok || k != descend(n.Key, n.Level, Depth, p) {
					t.Fatalf("KeyOf(%s, %d) = %x, %v from node %+v", n.Device, p, k, ok, n)
				}
			}
			if _, ok := KeyOf(nodes, n.Device, n.Last()+1); ok && n.Last()+1 < MaxPolls {
				if _, err := Restrict(nodes, n.Device, []uint64{n.Last() + 1}); err != nil {
					t.Fatalf("KeyOf covers %d, Restrict refuses it: %v", n.Last()+1, err)
				}
			}
			if _, err := Restrict(nodes, n.Device, []uint64{n.First(), n.Last()}); err != nil {
				t.Fatalf("Restrict refuses the node's own polls: %v", err)
			}
		}
	})
}

func BenchmarkPollKeySequential(b *testing.B) {
	tree, _ := testTree()
	p := uint64(0)
	for b.Loop() {
		tree.PollKey("press-1", p)
		p++
	}
}

func BenchmarkPollKeyRandom(b *testing.B) {
	tree, _ := testTree()
	r := rand.New(rand.NewPCG(1, 2))
	ps := make([]uint64, 1024)
	for i := range ps {
		ps[i] = r.Uint64N(MaxPolls)
	}
	i := 0
	for b.Loop() {
		tree.PollKey("press-1", ps[i%len(ps)])
		i++
	}
}

func BenchmarkCover1000(b *testing.B) {
	tree, _ := testTree()
	polls := rangeOf(12345, 1000)
	for b.Loop() {
		tree.Cover("press-1", polls)
	}
}

func formatMarshal(v any) ([]byte, error) { return format.Marshal(v) }
