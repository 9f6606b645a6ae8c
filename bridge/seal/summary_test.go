package seal

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/wotchain/wotchain/bridge/merkle"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/protocols"
)

const appID = "app-1"

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
