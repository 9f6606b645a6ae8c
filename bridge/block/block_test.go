package block

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"slices"
	"strings"
	"testing"

	"github.com/wotchain/wotchain/bridge/merkle"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/chaincode/format"
)

const appID = "app-1"

type pollSpec struct {
	device string
	n      int
}

// fixture is a consistent block: body, matching header, and the key.
type fixture struct {
	pub    ed25519.PublicKey
	priv   ed25519.PrivateKey
	header *format.Header
	body   *Body
}

func encodeReading(t *testing.T, device string, seq uint64, at int64, v float64) []byte {
	t.Helper()
	r := &reading.Reading{ApplianceID: appID, DeviceID: device, Point: "p", ApplianceTime: at, Seq: seq, Unit: "bar"}
	if err := r.SetValue(v); err != nil {
		t.Fatal(err)
	}
	b, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func signPoll(t *testing.T, priv ed25519.PrivateKey, device string, first, last uint64, leaves [][]byte) []byte {
	t.Helper()
	p := &reading.PollRecord{ApplianceID: appID, DeviceID: device, FirstSeq: first, LastSeq: last}
	msg, err := p.PollMessage(leaves)
	if err != nil {
		t.Fatal(err)
	}
	p.Signature = ed25519.Sign(priv, msg)
	b, err := reading.EncodePoll(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// headerFor derives the header a sealer would write for body.
func headerFor(t *testing.T, body *Body, height uint64, prev []byte) *format.Header {
	t.Helper()
	h := &format.Header{Version: format.HeaderV1, ApplianceID: appID, Height: height, PrevHash: prev, SealedAt: 1}
	devices := map[string]bool{}
	for i, raw := range body.Readings {
		r, err := reading.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			h.FirstSeq, h.FirstTime, h.LastTime = r.Seq, r.ApplianceTime, r.ApplianceTime
		}
		h.LastSeq = r.Seq
		h.FirstTime = min(h.FirstTime, r.ApplianceTime)
		h.LastTime = max(h.LastTime, r.ApplianceTime)
		devices[r.DeviceID] = true
	}
	for d := range devices {
		h.Devices = append(h.Devices, d)
	}
	slices.Sort(h.Devices)
	h.Count = uint64(len(body.Readings))
	tree, err := merkle.New(body.LeafHashes())
	if err != nil {
		t.Fatal(err)
	}
	h.MerkleRoot = tree.Root()
	return h
}

func newFixture(t *testing.T, firstSeq uint64, polls []pollSpec) *fixture {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	f := &fixture{pub: pub, priv: priv, body: &Body{}}
	seq := firstSeq
	for pi, p := range polls {
		first := seq
		var leaves [][]byte
		for i := 0; i < p.n; i++ {
			raw := encodeReading(t, p.device, seq, 1_000_000+int64(pi)*1000+int64(i), float64(seq)/4)
			f.body.Readings = append(f.body.Readings, raw)
			leaves = append(leaves, reading.LeafHash(raw))
			seq++
		}
		f.body.Polls = append(f.body.Polls, signPoll(t, priv, p.device, first, seq-1, leaves))
	}
	f.header = headerFor(t, f.body, 0, nil)
	return f
}

var threePolls = []pollSpec{{"press", 3}, {"oven", 2}, {"press", 4}}

func TestOpenValid(t *testing.T) {
	f := newFixture(t, 21, threePolls)
	hb, _ := f.header.Encode()
	h, err := format.ParseHeader(hb)
	if err != nil {
		t.Fatal(err)
	}
	// Round trip through the body encoding too.
	bb, err := f.body.Encode()
	if err != nil {
		t.Fatal(err)
	}
	body, err := ParseBody(bb)
	if err != nil {
		t.Fatal(err)
	}
	o, err := Open(h, body, f.pub)
	if err != nil {
		t.Fatalf("consistent block refused: %v", err)
	}
	if len(o.Readings) != 9 || len(o.Polls) != 3 || o.Tree.Size() != 9 {
		t.Fatalf("opened %d readings, %d polls, tree of %d", len(o.Readings), len(o.Polls), o.Tree.Size())
	}
	for i, r := range o.Readings {
		if r.Seq != 21+uint64(i) {
			t.Fatalf("reading %d has seq %d", i, r.Seq)
		}
	}
	if !slices.Equal(h.Devices, []string{"oven", "press"}) {
		t.Fatalf("devices %v", h.Devices)
	}
}

func TestOpenDetectsTampering(t *testing.T) {
	cases := []struct {
		name    string
		tamper  func(t *testing.T, f *fixture)
		wantErr string // part of the error message, "" for any
	}{
		{"reading value changed", func(t *testing.T, f *fixture) {
			f.body.Readings[4] = encodeReading(t, "oven", 25, 1_001_001, 99)
		}, "Merkle root"},
		{"reading changed, header recomputed", func(t *testing.T, f *fixture) {
			f.body.Readings[4] = encodeReading(t, "oven", 25, 1_001_001, 99)
			f.header = headerFor(t, f.body, 0, nil)
		}, "signature"},
		{"last reading dropped", func(t *testing.T, f *fixture) {
			f.body.Readings = f.body.Readings[:8]
		}, "readings"},
		{"middle reading dropped, header recomputed", func(t *testing.T, f *fixture) {
			f.body.Readings = slices.Delete(f.body.Readings, 4, 5)
			f.header = headerFor(t, f.body, 0, nil)
		}, ""},
		{"last reading dropped, header and last poll range recomputed", func(t *testing.T, f *fixture) {
			f.body.Readings = f.body.Readings[:8]
			f.header = headerFor(t, f.body, 0, nil)
			p, _ := reading.DecodePoll(f.body.Polls[2])
			p.LastSeq--
			f.body.Polls[2], _ = reading.EncodePoll(p)
		}, "signature"},
		{"readings swapped", func(t *testing.T, f *fixture) {
			f.body.Readings[0], f.body.Readings[1] = f.body.Readings[1], f.body.Readings[0]
		}, "Merkle root"},
		{"poll signature changed", func(t *testing.T, f *fixture) {
			p, _ := reading.DecodePoll(f.body.Polls[1])
			p.Signature[0] ^= 1
			f.body.Polls[1], _ = reading.EncodePoll(p)
		}, "signature"},
		{"last poll dropped", func(t *testing.T, f *fixture) {
			f.body.Polls = f.body.Polls[:2]
		}, "cover"},
		{"first poll dropped", func(t *testing.T, f *fixture) {
			f.body.Polls = f.body.Polls[1:]
		}, ""},
		{"middle poll dropped", func(t *testing.T, f *fixture) {
			f.body.Polls = slices.Delete(f.body.Polls, 1, 2)
		}, ""},
		{"no polls", func(t *testing.T, f *fixture) {
			f.body.Polls = nil
		}, "cover"},
		{"polls reordered", func(t *testing.T, f *fixture) {
			f.body.Polls[0], f.body.Polls[1] = f.body.Polls[1], f.body.Polls[0]
		}, ""},
		{"poll repeated", func(t *testing.T, f *fixture) {
			f.body.Polls = append(f.body.Polls, f.body.Polls[2])
		}, ""},
		{"poll extends past the block", func(t *testing.T, f *fixture) {
			p, _ := reading.DecodePoll(f.body.Polls[2])
			p.LastSeq++
			f.body.Polls[2], _ = reading.EncodePoll(p)
		}, ""},
		{"poll of another device, validly signed", func(t *testing.T, f *fixture) {
			leaves := f.body.LeafHashes()
			f.body.Polls[1] = signPoll(t, f.priv, "press", 24, 25, leaves[3:5])
		}, "poll is from"},
		{"poll of another appliance, validly signed", func(t *testing.T, f *fixture) {
			p, _ := reading.DecodePoll(f.body.Polls[0])
			p.ApplianceID = "app-2"
			msg, _ := p.PollMessage(f.body.LeafHashes()[0:3])
			p.Signature = ed25519.Sign(f.priv, msg)
			f.body.Polls[0], _ = reading.EncodePoll(p)
		}, ""},
		{"poll garbage", func(t *testing.T, f *fixture) {
			f.body.Polls[0] = []byte{0xff}
		}, ""},
		{"reading not canonical", func(t *testing.T, f *fixture) {
			f.body.Readings[0] = append(f.body.Readings[0], 0)
			tree, _ := merkle.New(f.body.LeafHashes())
			f.header.MerkleRoot = tree.Root()
		}, "reading 0"},
		{"header first time wrong", func(t *testing.T, f *fixture) { f.header.FirstTime-- }, "time range"},
		{"header last time wrong", func(t *testing.T, f *fixture) { f.header.LastTime++ }, "time range"},
		{"header device missing", func(t *testing.T, f *fixture) { f.header.Devices = []string{"press"} }, "devices"},
		{"header device extra", func(t *testing.T, f *fixture) { f.header.Devices = []string{"oven", "pump", "press"} }, "devices"},
		{"header first seq shifted", func(t *testing.T, f *fixture) { f.header.FirstSeq++; f.header.LastSeq++ }, "out of place"},
		{"header of another appliance", func(t *testing.T, f *fixture) { f.header.ApplianceID = "app-2" }, "out of place"},
		{"header count wrong", func(t *testing.T, f *fixture) { f.header.Count = 8; f.header.LastSeq-- }, "readings"},
		{"other appliance key", func(t *testing.T, f *fixture) {
			f.pub, _, _ = ed25519.GenerateKey(rand.Reader)
		}, "signature"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, 21, threePolls)
			c.tamper(t, f)
			_, err := Open(f.header, f.body, f.pub)
			if err == nil {
				t.Fatal("Open accepted a tampered block")
			}
			if c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %q does not mention %q", err, c.wantErr)
			}
		})
	}
}

func TestOpenSinglePollSingleReading(t *testing.T) {
	f := newFixture(t, 1, []pollSpec{{"d", 1}})
	if _, err := Open(f.header, f.body, f.pub); err != nil {
		t.Fatal(err)
	}
	if f.header.FirstTime != f.header.LastTime || len(f.header.MerkleRoot) != sha256.Size {
		t.Fatalf("header %+v", f.header)
	}
}
