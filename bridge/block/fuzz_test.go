package block

import (
	"bytes"
	"crypto/ed25519"
	"slices"
	"testing"

	"github.com/wotchain/wotchain/bridge/merkle"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/chaincode/format"
)

// fuzzKey is fixed so that crashers saved under testdata/fuzz reproduce.
var fuzzKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x42}, ed25519.SeedSize))

// sealedBlock builds a consistent block as the sealer writes it: readings
// firstSeq.. from the polls, every poll signed with fuzzKey.
func sealedBlock(firstSeq, height uint64, prev []byte, polls []pollSpec) (*format.Header, *Body) {
	body := &Body{}
	seq := firstSeq
	for pi, p := range polls {
		first := seq
		var leaves [][]byte
		for i := 0; i < p.n; i++ {
			r := &reading.Reading{ApplianceID: appID, DeviceID: p.device, Point: "p", ApplianceTime: 1_000_000 + int64(pi)*1000 + int64(i), Seq: seq, Unit: "bar"}
			if err := r.SetValue(float64(seq) / 4); err != nil {
				panic(err)
			}
			raw, err := r.Encode()
			if err != nil {
				panic(err)
			}
			body.Readings = append(body.Readings, raw)
			leaves = append(leaves, reading.LeafHash(raw))
			seq++
		}
		pr := &reading.PollRecord{ApplianceID: appID, DeviceID: p.device, FirstSeq: first, LastSeq: seq - 1}
		msg, err := pr.PollMessage(leaves)
		if err != nil {
			panic(err)
		}
		pr.Signature = ed25519.Sign(fuzzKey, msg)
		b, err := reading.EncodePoll(pr)
		if err != nil {
			panic(err)
		}
		body.Polls = append(body.Polls, b)
	}
	h := &format.Header{Version: format.HeaderV1, ApplianceID: appID, Height: height, PrevHash: prev, SealedAt: 1, FirstSeq: firstSeq, LastSeq: seq - 1, Count: seq - firstSeq}
	devices := map[string]bool{}
	for i, raw := range body.Readings {
		r, _ := reading.Decode(raw)
		if i == 0 || r.ApplianceTime < h.FirstTime {
			h.FirstTime = r.ApplianceTime
		}
		h.LastTime = max(h.LastTime, r.ApplianceTime)
		devices[r.DeviceID] = true
	}
	h.Devices = sortedKeys(devices)
	tree, err := merkle.New(body.LeafHashes())
	if err != nil {
		panic(err)
	}
	h.MerkleRoot = tree.Root()
	return h, body
}

func fuzzBlocks() [][2][]byte {
	var out [][2][]byte
	for _, b := range []struct {
		first, height uint64
		prev          []byte
		polls         []pollSpec
	}{
		{1, 0, nil, []pollSpec{{"press-1", 3}}},
		{4, 1, bytes.Repeat([]byte{0xab}, 32), []pollSpec{{"press-1", 2}, {"boiler-1", 1}, {"press-1", 4}}},
		{100, 9, bytes.Repeat([]byte{0x01}, 32), []pollSpec{{"env-1", 1}, {"env-1", 1}, {"boiler-1", 5}}},
	} {
		h, body := sealedBlock(b.first, b.height, b.prev, b.polls)
		hb, err := h.Encode()
		if err != nil {
			panic(err)
		}
		bb, err := body.Encode()
		if err != nil {
			panic(err)
		}
		out = append(out, [2][]byte{hb, bb})
	}
	return out
}

// FuzzOpen: arbitrary header and body bytes through ParseHeader, ParseBody
// and Open with the appliance key. Nothing panics, and Open accepts only a
// body whose readings are exactly those of a block the key really signed
// (so no change to a reading, its order, or its poll records' coverage
// gets through).
func FuzzOpen(f *testing.F) {
	blocks := fuzzBlocks()
	for _, b := range blocks {
		f.Add(b[0], b[1])
	}
	f.Add(blocks[0][0], blocks[1][1]) // a real body under another block's header
	pub := fuzzKey.Public().(ed25519.PublicKey)
	genuine := map[string]bool{}
	for _, b := range blocks {
		body, _ := ParseBody(b[1])
		genuine[string(bytes.Join(body.Readings, []byte{0}))] = true
	}
	f.Fuzz(func(t *testing.T, headerBytes, bodyBytes []byte) {
		body, err := ParseBody(bodyBytes)
		if err != nil {
			return
		}
		h, err := format.ParseHeader(headerBytes)
		if err != nil {
			// Open must also cope with a header that was never parsed.
			h = &format.Header{Version: format.HeaderV1, ApplianceID: appID, FirstSeq: 1, LastSeq: uint64(len(body.Readings)), Count: uint64(len(body.Readings)), MerkleRoot: make([]byte, 32), Devices: []string{"press-1"}}
		}
		o, err := Open(h, body, pub)
		if err != nil {
			return
		}
		if !genuine[string(bytes.Join(body.Readings, []byte{0}))] {
			t.Fatalf("Open accepted readings the appliance never signed: %d readings", len(body.Readings))
		}
		if len(o.Readings) != len(body.Readings) || uint64(len(o.Readings)) != h.Count {
			t.Fatalf("opened %d readings of %d, header count %d", len(o.Readings), len(body.Readings), h.Count)
		}
		covered := uint64(0)
		for _, p := range o.Polls {
			covered += p.LastSeq - p.FirstSeq + 1
		}
		if covered != h.Count {
			t.Fatalf("polls cover %d readings, header count %d", covered, h.Count)
		}
		if !slices.IsSorted(h.Devices) {
			t.Fatal("devices unsorted")
		}
	})
}

// A block whose last poll ends at the largest sequence number, followed by
// one more poll record starting at seq 0: next = LastSeq+1 wraps to 0, the
// extra record "starts where expected", and Open slices its readings out
// of range. Only a holder of the appliance key can sign the first poll, so
// this is a robustness bug, not a forgery; Open must refuse, not panic.
func TestOpenPollAfterLastSeqWraps(t *testing.T) {
	const n = 3
	h, body := sealedBlock(^uint64(0)-n+1, 0, nil, []pollSpec{{"press-1", n}})
	extra := &reading.PollRecord{ApplianceID: appID, DeviceID: "press-1", FirstSeq: 0, LastSeq: 0, Signature: make([]byte, 64)}
	b, err := reading.EncodePoll(extra)
	if err != nil {
		t.Fatal(err)
	}
	body.Polls = append(body.Polls, b)
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Open panicked: %v", r)
		}
	}()
	if _, err := Open(h, body, fuzzKey.Public().(ed25519.PublicKey)); err == nil {
		t.Fatal("Open accepted a poll record beyond the header's last sequence number")
	}
}
