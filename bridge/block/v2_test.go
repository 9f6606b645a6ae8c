package block

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hpke"
	"slices"
	"strings"
	"testing"

	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/keytree"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/chaincode/format"
)

// v2Tweaks change a v2 block while it is built, each at the point where a
// careless or hostile sealer could: a reading before its poll is signed, a
// record after, the header after it is derived.
type v2Tweaks struct {
	reading func(k, j int, r *reading.Reading)
	index   func(k int, device string, next uint64) uint64
	record  func(k int, p *reading.PollRecord)
	header  func(h *format.Header)
}

// v2Block is a sealed v2 object, the owner's key to it and what it holds.
type v2Block struct {
	raw      []byte
	obj      *envelope.ObjectV2
	owner    hpke.PrivateKey
	keySet   []keytree.Node
	tree     *keytree.Tree
	readings [][][]byte // per poll
}

var v2Owner = func() hpke.PrivateKey {
	kem, err := hpke.NewKEM(keys.KEMX25519)
	if err != nil {
		panic(err)
	}
	k, err := kem.DeriveKeyPair(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		panic(err)
	}
	return k
}()

// buildV2 seals polls (one appliance time each) as bridge/seal does, with
// readings from firstSeq and every device's poll indices from 0.
func buildV2(t testing.TB, firstSeq uint64, polls []pollSpec, tw v2Tweaks) *v2Block {
	t.Helper()
	tree := keytree.New(keytree.TreeSecret(fuzzKey))
	b := &v2Block{owner: v2Owner, tree: tree}
	next := map[string]uint64{}
	var inputs []envelope.PollInput
	var roots [][]byte
	h := &format.Header{Version: format.HeaderV2, ApplianceID: appID, Height: 3, PrevHash: bytes.Repeat([]byte{9}, 32), SealedAt: 1,
		FirstSeq: firstSeq, Polls: uint64(len(polls))}
	devices := map[string]bool{}
	seq := firstSeq
	cover := map[string][]uint64{}
	for k, p := range polls {
		index := next[p.device]
		if tw.index != nil {
			index = tw.index(k, p.device, index)
		}
		next[p.device] = index + 1
		pollKey := tree.PollKey(p.device, index)
		at := 1_000_000 + int64(k)*1000
		rec := &reading.PollRecord{ApplianceID: appID, DeviceID: p.device, FirstSeq: seq, LastSeq: seq + uint64(p.n) - 1, PollIndex: index}
		var raws, leaves [][]byte
		for j := range p.n {
			r := &reading.Reading{ApplianceID: appID, DeviceID: p.device, Point: "p", ApplianceTime: at, Seq: seq, Unit: "bar"}
			if err := r.SetValue(float64(seq) / 4); err != nil {
				t.Fatal(err)
			}
			if tw.reading != nil {
				tw.reading(k, j, r)
			}
			raw, err := r.Encode()
			if err != nil {
				t.Fatal(err)
			}
			raws = append(raws, raw)
			leaves = append(leaves, reading.SaltedLeafHash(keytree.Salt(pollKey, uint64(j)), raw))
			seq++
		}
		root, err := reading.PollRoot(leaves)
		if err != nil {
			t.Fatal(err)
		}
		rec.PollRoot = root
		msg, err := rec.Statement()
		if err != nil {
			t.Fatal(err)
		}
		rec.Signature = ed25519.Sign(fuzzKey, msg)
		if tw.record != nil {
			tw.record(k, rec)
		}
		enc, err := reading.EncodePoll(rec)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, envelope.PollInput{Record: enc, SectionKey: keytree.SectionKey(pollKey), Readings: raws})
		roots = append(roots, rec.PollRoot)
		b.readings = append(b.readings, raws)
		devices[p.device] = true
		cover[p.device] = append(cover[p.device], index)
		if k == 0 {
			h.FirstTime, h.LastTime = at, at
		}
		h.FirstTime, h.LastTime = min(h.FirstTime, at), max(h.LastTime, at)
	}
	h.LastSeq, h.Count = seq-1, seq-firstSeq
	h.Devices = sortedKeys(devices)
	var err error
	if h.MerkleRoot, err = reading.BlockRoot(roots); err != nil {
		t.Fatal(err)
	}
	if tw.header != nil {
		tw.header(h)
	}
	for d, ix := range cover {
		b.keySet = append(b.keySet, tree.Cover(d, ix)...)
	}
	ks, err := keytree.EncodeKeySet(b.keySet)
	if err != nil {
		t.Fatal(err)
	}
	hb, err := h.Encode()
	if err != nil {
		t.Fatal(err)
	}
	c, err := envelope.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	if b.raw, err = c.SealV2(hb, format.SignHeader(fuzzKey, hb), ks, inputs, []hpke.PublicKey{b.owner.PublicKey()}); err != nil {
		t.Fatal(err)
	}
	if b.obj, err = envelope.ParseV2(b.raw); err != nil {
		t.Fatal(err)
	}
	return b
}

func newCodec(t testing.TB) *envelope.Codec {
	t.Helper()
	c, err := envelope.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ownerKeySet is what the owner does first: unwrap and parse the key set.
func (b *v2Block) ownerKeySet(t *testing.T) []keytree.Node {
	t.Helper()
	ks, err := b.obj.KeySet(b.owner)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := keytree.ParseKeySet(ks)
	if err != nil {
		t.Fatal(err)
	}
	return nodes
}

var v2Polls = []pollSpec{{"press", 3}, {"oven", 2}, {"press", 4}, {"press", 1}, {"env", 2}}

func TestOpenV2Valid(t *testing.T) {
	b := buildV2(t, 21, v2Polls, v2Tweaks{})
	pub := fuzzKey.Public().(ed25519.PublicKey)
	o, err := OpenV2(b.obj, b.ownerKeySet(t), pub, newCodec(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Polls) != len(v2Polls) || o.Header.Count != 12 {
		t.Fatalf("%d polls, count %d", len(o.Polls), o.Header.Count)
	}
	seq := uint64(21)
	for k, p := range o.Polls {
		if !p.Opened || p.Record.DeviceID != v2Polls[k].device {
			t.Fatalf("poll %d: opened %v device %q", k, p.Opened, p.Record.DeviceID)
		}
		for j, raw := range p.Raw {
			if !bytes.Equal(raw, b.readings[k][j]) || p.Readings[j].Seq != seq {
				t.Fatalf("poll %d reading %d differs", k, j)
			}
			seq++
		}
	}
	if got := o.Readings(); len(got) != 12 || got[0].Seq != 21 || got[11].Seq != 32 {
		t.Fatalf("Readings: %d", len(got))
	}
	// Poll indices: press 0,1,2, oven 0, env 0: a consecutive run per device.
	if i := o.Polls[3].Record.PollIndex; i != 2 {
		t.Fatalf("press's third poll has index %d", i)
	}

	// A partner's key set: the press polls 1 and 2 only.
	part, err := keytree.Restrict(b.keySet, "press", []uint64{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenV2(b.obj, part, pub, newCodec(t)); err == nil {
		t.Fatal("OpenV2 accepted a key set that does not cover every poll")
	}
	po, err := OpenV2Partial(b.obj, part, pub, newCodec(t))
	if err != nil {
		t.Fatal(err)
	}
	var opened []int
	for k, p := range po.Polls {
		if p.Opened {
			opened = append(opened, k)
		} else if p.Raw != nil || p.Readings != nil {
			t.Fatalf("poll %d not opened but has readings", k)
		}
	}
	if !slices.Equal(opened, []int{2, 3}) {
		t.Fatalf("partner opened polls %v, want [2 3]", opened)
	}
	if len(po.Readings()) != 5 {
		t.Fatalf("partner reads %d readings, want 5", len(po.Readings()))
	}
	// Nothing opens for a key set of another device's tree.
	other, err := OpenV2Partial(b.obj, keytree.New([32]byte{1}).Cover("press", []uint64{0, 1, 2}), pub, newCodec(t))
	if err == nil {
		for k, p := range other.Polls {
			if p.Opened {
				t.Fatalf("poll %d opened with another tree's keys", k)
			}
		}
	}
}

func TestOpenV2Refuses(t *testing.T) {
	pub := fuzzKey.Public().(ed25519.PublicKey)
	otherPub, _, _ := ed25519.GenerateKey(nil)
	cases := []struct {
		name  string
		tw    v2Tweaks
		pub   ed25519.PublicKey
		wants string
	}{
		{"another appliance key", v2Tweaks{}, otherPub, "signature"},
		{"record signature", v2Tweaks{record: func(k int, p *reading.PollRecord) {
			if k == 2 {
				p.Signature[5] ^= 1
			}
		}}, pub, "signature"},
		{"record poll root", v2Tweaks{record: func(k int, p *reading.PollRecord) {
			if k == 1 {
				p.PollRoot = bytes.Repeat([]byte{1}, 32)
			}
		}}, pub, "poll root"},
		{"record device", v2Tweaks{record: func(k int, p *reading.PollRecord) {
			if k == 1 {
				p.DeviceID = "press"
			}
		}}, pub, ""},
		{"record appliance", v2Tweaks{record: func(k int, p *reading.PollRecord) {
			if k == 0 {
				p.ApplianceID = "app-2"
			}
		}}, pub, ""},
		{"record index", v2Tweaks{record: func(k int, p *reading.PollRecord) {
			if k == 0 {
				p.PollIndex = 7
			}
		}}, pub, ""},
		{"index repeated", v2Tweaks{index: func(k int, d string, next uint64) uint64 {
			if k == 2 {
				return 0
			}
			return next
		}}, pub, "poll index"},
		{"index falls", v2Tweaks{index: func(k int, d string, next uint64) uint64 {
			switch k {
			case 0:
				return 5
			case 3:
				return 3
			}
			return next
		}}, pub, "poll index"},
		{"two times in a poll", v2Tweaks{reading: func(k, j int, r *reading.Reading) {
			if k == 2 && j == 1 {
				r.ApplianceTime++
			}
		}}, pub, "appliance time"},
		{"reading of another device", v2Tweaks{reading: func(k, j int, r *reading.Reading) {
			if k == 0 && j == 2 {
				r.DeviceID = "oven"
			}
		}}, pub, "out of place"},
		{"reading seq", v2Tweaks{reading: func(k, j int, r *reading.Reading) {
			if k == 0 && j == 2 {
				r.Seq++
			}
		}}, pub, "out of place"},
		{"reading of another appliance", v2Tweaks{reading: func(k, j int, r *reading.Reading) {
			if k == 4 && j == 0 {
				r.ApplianceID = "app-2"
			}
		}}, pub, "out of place"},
		{"header block root", v2Tweaks{header: func(h *format.Header) { h.MerkleRoot[0] ^= 1 }}, pub, "block root"},
		{"header devices", v2Tweaks{header: func(h *format.Header) { h.Devices = []string{"env", "oven", "press", "zzz"} }}, pub, "devices"},
		{"header first time", v2Tweaks{header: func(h *format.Header) { h.FirstTime-- }}, pub, "time range"},
		{"header last time", v2Tweaks{header: func(h *format.Header) { h.LastTime-- }}, pub, "time"},
		{"header poll count", v2Tweaks{header: func(h *format.Header) { h.Polls++ }}, pub, "polls"},
		{"header v1", v2Tweaks{header: func(h *format.Header) { h.Version, h.Polls = format.HeaderV1, 0 }}, pub, "version"},
		{"header first seq", v2Tweaks{header: func(h *format.Header) { h.FirstSeq, h.Count = h.FirstSeq+1, h.Count-1 }}, pub, ""},
		{"header last seq", v2Tweaks{header: func(h *format.Header) { h.LastSeq, h.Count = h.LastSeq+1, h.Count+1 }}, pub, "cover"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := buildV2(t, 21, v2Polls, c.tw)
			_, err := OpenV2(b.obj, b.ownerKeySet(t), c.pub, newCodec(t))
			if err == nil || !strings.Contains(err.Error(), c.wants) {
				t.Fatalf("OpenV2: %v, want an error about %q", err, c.wants)
			}
		})
	}
}

// TestOpenV2PartialChecksOpenedPolls: a partner's open judges the records
// of every poll, and every poll it can open in full.
func TestOpenV2PartialChecksOpenedPolls(t *testing.T) {
	pub := fuzzKey.Public().(ed25519.PublicKey)
	b := buildV2(t, 21, v2Polls, v2Tweaks{reading: func(k, j int, r *reading.Reading) {
		if k == 3 {
			r.ApplianceTime = 0 // outside the header's range (a lying sealer)
		}
	}, header: func(h *format.Header) { h.FirstTime = 1_000_000 }})
	press2, err := keytree.Restrict(b.keySet, "press", []uint64{2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenV2Partial(b.obj, press2, pub, newCodec(t)); err == nil || !strings.Contains(err.Error(), "time") {
		t.Fatalf("partial open of a poll outside the header's time range: %v", err)
	}
	oven, err := keytree.Restrict(b.keySet, "oven", []uint64{0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenV2Partial(b.obj, oven, pub, newCodec(t)); err != nil {
		t.Fatalf("the oven's poll is sound: %v", err)
	}
	bad := buildV2(t, 21, v2Polls, v2Tweaks{header: func(h *format.Header) { h.MerkleRoot[3] ^= 1 }})
	if _, err := OpenV2Partial(bad.obj, nil, pub, newCodec(t)); err == nil {
		t.Fatal("partial open with no keys accepted a block root that does not match")
	}
}

// FuzzOpenV2: any object bytes through ParseV2 and OpenV2 with the full key
// set of the seed blocks: nothing panics, and what opens is exactly a
// sealed block's readings (no change to a record, a section, the header or
// the order gets through).
func FuzzOpenV2(f *testing.F) {
	pub := fuzzKey.Public().(ed25519.PublicKey)
	seeds := []*v2Block{buildV2(f, 21, v2Polls, v2Tweaks{}), buildV2(f, 1, []pollSpec{{"press", 1}}, v2Tweaks{})}
	var keySet []keytree.Node
	for _, s := range seeds {
		f.Add(s.raw)
	}
	// Both seeds number from poll 0 of the same tree: the first's key set
	// covers every poll of the second.
	keySet = seeds[0].keySet
	c := newCodec(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		obj, err := envelope.ParseV2(data)
		if err != nil {
			return
		}
		o, err := OpenV2(obj, keySet, pub, c)
		if err != nil {
			return
		}
		for _, s := range seeds {
			if !bytes.Equal(obj.Header, s.obj.Header) {
				continue
			}
			for k, p := range o.Polls {
				if !slices.EqualFunc(p.Raw, s.readings[k], bytes.Equal) {
					t.Fatalf("poll %d opened to readings that were not sealed there", k)
				}
			}
			return
		}
		t.Fatalf("opened a block under a header never sealed: %x", obj.Header)
	})
}
