package reading

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"math"
	"strings"
	"testing"

	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/protocols"
)

// goldenReading is a fixed reading whose canonical encoding must never change:
// its bytes are hashed and signed, so any drift would break every proof.
func goldenReading() *Reading {
	f := 21.5
	return &Reading{
		ApplianceID:   "app-1",
		DeviceID:      "press-7",
		Point:         "temp",
		Float:         &f,
		Unit:          "degC",
		Quality:       protocols.Good,
		SourceTime:    1700000000000000000,
		ApplianceTime: 1700000000123456789,
		Seq:           42,
	}
}

const goldenHex = "a901656170702d31026770726573732d37036474656d7004f94d6008646465674309000b1b17979cfe362a00000c1b17979cfe3d85cd150d182a"

func TestEncodeGolden(t *testing.T) {
	got, err := goldenReading().Encode()
	if err != nil {
		t.Fatal(err)
	}
	if h := hex.EncodeToString(got); h != goldenHex {
		t.Fatalf("canonical encoding changed:\n got %s\nwant %s", h, goldenHex)
	}
	// Encoding twice gives the same bytes.
	again, err := goldenReading().Encode()
	if err != nil || !bytes.Equal(again, got) {
		t.Fatalf("second encoding differs: %x, %v", again, err)
	}
}

func TestDecodeReencodeIdentical(t *testing.T) {
	golden, _ := hex.DecodeString(goldenHex)
	r, err := Decode(golden)
	if err != nil {
		t.Fatalf("Decode(golden): %v", err)
	}
	if r.Value() != 21.5 || r.Seq != 42 || r.DeviceID != "press-7" || r.Unit != "degC" || r.SourceTime != 1700000000000000000 {
		t.Fatalf("decoded wrong reading: %+v", r)
	}
	again, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, golden) {
		t.Fatalf("re-encoding a decoded reading changed its bytes:\n got %x\nwant %x", again, golden)
	}
}

// TestMapKeyOrderIndependence: the encoding depends on the keys, not on the
// order a map producing them is built or iterated in.
func TestMapKeyOrderIndependence(t *testing.T) {
	golden, _ := hex.DecodeString(goldenHex)
	var generic map[uint64]any
	if err := format.Unmarshal(golden, &generic); err != nil {
		t.Fatal(err)
	}
	keys := []uint64{13, 1, 12, 3, 11, 2, 9, 8, 4}
	for round := 0; round < 20; round++ {
		m := map[uint64]any{}
		// Insert in a different order each round.
		for i := range keys {
			k := keys[(i+round)%len(keys)]
			m[k] = generic[k]
		}
		b, err := format.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, golden) {
			t.Fatalf("round %d: map encoding %x differs from struct encoding %x", round, b, golden)
		}
	}
}

func TestValueTypesRoundTrip(t *testing.T) {
	for _, v := range []any{nil, 0.0, -3.25, int64(0), int64(-7), int64(math.MaxInt64), true, false, "", "open"} {
		r := goldenReading()
		if err := r.SetValue(v); err != nil {
			t.Fatalf("SetValue(%#v): %v", v, err)
		}
		b, err := r.Encode()
		if err != nil {
			t.Fatalf("Encode with %#v: %v", v, err)
		}
		d, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode with %#v: %v", v, err)
		}
		if d.Value() != v {
			t.Fatalf("value %#v came back as %#v", v, d.Value())
		}
	}
}

// Minimal CBOR writer, so tests can build encodings the library would never produce.
func cborHead(major byte, n uint64) []byte {
	switch {
	case n < 24:
		return []byte{major<<5 | byte(n)}
	case n <= math.MaxUint8:
		return []byte{major<<5 | 24, byte(n)}
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16([]byte{major<<5 | 25}, uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32([]byte{major<<5 | 26}, uint32(n))
	}
	return binary.BigEndian.AppendUint64([]byte{major<<5 | 27}, n)
}

func cborUint(n uint64) []byte { return cborHead(0, n) }
func cborText(s string) []byte { return append(cborHead(3, uint64(len(s))), s...) }

type kv struct {
	key uint64
	val []byte
}

func cborMap(entries []kv) []byte {
	out := cborHead(5, uint64(len(entries)))
	for _, e := range entries {
		out = append(out, cborUint(e.key)...)
		out = append(out, e.val...)
	}
	return out
}

// goldenEntries are the golden reading's map entries in canonical order.
func goldenEntries() []kv {
	return []kv{
		{1, cborText("app-1")},
		{2, cborText("press-7")},
		{3, cborText("temp")},
		{4, []byte{0xf9, 0x4d, 0x60}}, // 21.5 as float16, the shortest exact form
		{8, cborText("degC")},
		{9, cborUint(0)},
		{11, cborUint(1700000000000000000)},
		{12, cborUint(1700000000123456789)},
		{13, cborUint(42)},
	}
}

func TestHandBuiltCanonicalMatchesGolden(t *testing.T) {
	// Guards the helper: if this fails, the rejection cases below prove nothing.
	golden, _ := hex.DecodeString(goldenHex)
	if b := cborMap(goldenEntries()); !bytes.Equal(b, golden) {
		t.Fatalf("hand-built canonical map %x != golden %x", b, golden)
	}
}

func TestDecodeRejectsNonCanonical(t *testing.T) {
	modify := func(f func([]kv) []kv) []byte { return cborMap(f(goldenEntries())) }
	float64Bytes := binary.BigEndian.AppendUint64([]byte{0xfb}, math.Float64bits(21.5))
	golden, _ := hex.DecodeString(goldenHex)
	cases := []struct {
		name string
		data []byte
	}{
		{"keys swapped", modify(func(e []kv) []kv { e[0], e[1] = e[1], e[0]; return e })},
		{"keys reversed", modify(func(e []kv) []kv {
			for i, j := 0, len(e)-1; i < j; i, j = i+1, j-1 {
				e[i], e[j] = e[j], e[i]
			}
			return e
		})},
		{"seq in three-byte form", modify(func(e []kv) []kv { e[8].val = []byte{0x19, 0, 42}; return e })},
		{"quality in eight-byte form", modify(func(e []kv) []kv { e[5].val = []byte{0x1b, 0, 0, 0, 0, 0, 0, 0, 0}; return e })},
		{"map length in long form", append([]byte{0xb8, 9}, golden[1:]...)},
		{"key in long form", func() []byte {
			// Key 13 written as 0x18 0x0d instead of 0x0d.
			i := bytes.LastIndex(golden, []byte{0x0d, 0x18, 0x2a})
			return append(append(append([]byte(nil), golden[:i]...), 0x18), golden[i:]...)
		}()},
		{"float in float64 form", modify(func(e []kv) []kv { e[3].val = float64Bytes; return e })},
		{"duplicate key", modify(func(e []kv) []kv { return append(e[:3], append([]kv{{3, cborText("temp")}}, e[3:]...)...) })},
		{"duplicate key other value", modify(func(e []kv) []kv { return append(e, kv{13, cborUint(43)}) })},
		{"two values set", modify(func(e []kv) []kv {
			return append(e[:4], append([]kv{{5, cborUint(7)}}, e[4:]...)...)
		})},
		{"unknown quality", modify(func(e []kv) []kv { e[5].val = cborUint(3); return e })},
		{"indefinite-length map", func() []byte {
			b := []byte{0xbf}
			b = append(b, golden[1:]...)
			return append(b, 0xff)
		}()},
		{"trailing byte", append(append([]byte(nil), golden...), 0x00)},
		{"truncated", golden[:len(golden)-1]},
		{"tagged", append([]byte{0xc1}, golden...)},
		{"empty", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if bytes.Equal(c.data, golden) {
				t.Fatal("test case is the golden encoding itself")
			}
			if r, err := Decode(c.data); err == nil {
				t.Fatalf("Decode(%x) accepted a non-canonical encoding: %+v", c.data, r)
			}
		})
	}
}

func TestEncodeRejectsTwoValues(t *testing.T) {
	r := goldenReading()
	i := int64(3)
	r.Int = &i
	if _, err := r.Encode(); err == nil {
		t.Fatal("Encode accepted a reading with a float and an int set")
	}
}

func TestSetValue(t *testing.T) {
	bad := []any{math.NaN(), math.Inf(1), math.Inf(-1), float32(1), 3, int32(3), uint64(3), []byte("x"), struct{}{}}
	for _, v := range bad {
		r := goldenReading()
		if err := r.SetValue(v); err == nil {
			t.Errorf("SetValue(%#v) accepted", v)
		}
		if r.valueCount() != 0 {
			t.Errorf("SetValue(%#v) failed but left a value set: %#v", v, r.Value())
		}
	}
	// Setting a value replaces the previous one rather than adding a second.
	r := goldenReading()
	if err := r.SetValue("x"); err != nil {
		t.Fatal(err)
	}
	if r.valueCount() != 1 || r.Value() != "x" {
		t.Fatalf("after SetValue(\"x\") the reading holds %d values, %#v", r.valueCount(), r.Value())
	}
}

func leafHashes(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		r := goldenReading()
		r.Seq = uint64(10 + i)
		b, err := r.Encode()
		if err != nil {
			panic(err)
		}
		out[i] = LeafHash(b)
	}
	return out
}

func signedPoll(t *testing.T, priv ed25519.PrivateKey, hashes [][]byte) *PollRecord {
	t.Helper()
	p := &PollRecord{ApplianceID: "app-1", DeviceID: "press-7", FirstSeq: 10, LastSeq: 10 + uint64(len(hashes)) - 1}
	msg, err := p.PollMessage(hashes)
	if err != nil {
		t.Fatal(err)
	}
	p.Signature = ed25519.Sign(priv, msg)
	return p
}

func TestPollSignVerify(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	hashes := leafHashes(3)
	p := signedPoll(t, priv, hashes)
	if err := p.Verify(pub, hashes); err != nil {
		t.Fatalf("valid poll refused: %v", err)
	}

	enc, err := EncodePoll(p)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodePoll(enc)
	if err != nil {
		t.Fatal(err)
	}
	if err := back.Verify(pub, hashes); err != nil {
		t.Fatalf("poll refused after storage round trip: %v", err)
	}

	clone := func() *PollRecord { c := *p; return &c }
	cases := []struct {
		name   string
		poll   *PollRecord
		pub    ed25519.PublicKey
		hashes [][]byte
	}{
		{"hash changed", p, pub, func() [][]byte {
			h := leafHashes(3)
			h[1][0] ^= 1
			return h
		}()},
		{"hashes reordered", p, pub, [][]byte{hashes[1], hashes[0], hashes[2]}},
		{"hash missing", p, pub, hashes[:2]},
		{"extra hash", p, pub, append(leafHashes(3), hashes[0])},
		{"range shifted", func() *PollRecord { c := clone(); c.FirstSeq++; c.LastSeq++; return c }(), pub, hashes},
		{"range inverted", func() *PollRecord { c := clone(); c.FirstSeq, c.LastSeq = c.LastSeq, c.FirstSeq; return c }(), pub, hashes},
		{"device changed", func() *PollRecord { c := clone(); c.DeviceID = "press-8"; return c }(), pub, hashes},
		{"appliance changed", func() *PollRecord { c := clone(); c.ApplianceID = "app-2"; return c }(), pub, hashes},
		{"signature changed", func() *PollRecord {
			c := clone()
			c.Signature = append([]byte(nil), p.Signature...)
			c.Signature[5] ^= 0x40
			return c
		}(), pub, hashes},
		{"other key", p, otherPub, hashes},
		{"short key", p, pub[:16], hashes},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.poll.Verify(c.pub, c.hashes); err == nil {
				t.Fatal("Verify accepted")
			}
		})
	}
}

func TestPollSignatureIsDomainSeparated(t *testing.T) {
	// A signature over the raw statement without the domain must not verify:
	// poll signatures and header signatures cannot stand in for each other.
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	hashes := leafHashes(1)
	p := &PollRecord{ApplianceID: "app-1", DeviceID: "press-7", FirstSeq: 10, LastSeq: 10}
	msg, _ := p.PollMessage(hashes)
	if !bytes.Contains(msg, []byte(pollDomain)) {
		t.Fatalf("poll message %x does not carry the domain %q", msg, pollDomain)
	}
	noDomain, _ := format.Marshal(pollStatement{ApplianceID: p.ApplianceID, DeviceID: p.DeviceID, FirstSeq: 10, LastSeq: 10, LeafHashes: hashes})
	p.Signature = ed25519.Sign(priv, noDomain)
	if err := p.Verify(pub, hashes); err == nil {
		t.Fatal("signature over a statement without the poll domain verified")
	}
}

func TestDecodePollRejectsInvertedRange(t *testing.T) {
	b, err := EncodePoll(&PollRecord{ApplianceID: "a", DeviceID: "d", FirstSeq: 5, LastSeq: 4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodePoll(b); err == nil || !strings.Contains(err.Error(), "inverted") {
		t.Fatalf("DecodePoll of range 5..4: %v", err)
	}
}

func TestLeafHashIsRFC6962Leaf(t *testing.T) {
	// SHA-256(0x00 || "") from RFC 6962 test vectors.
	if got := hex.EncodeToString(LeafHash(nil)); got != "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d" {
		t.Fatalf("LeafHash(empty) = %s", got)
	}
}

// A reading whose text is not UTF-8 would encode but never decode (CBOR
// text must be UTF-8), making its block unopenable: Encode refuses it.
func TestEncodeRefusesTextNotUTF8(t *testing.T) {
	v := "ok"
	for name, r := range map[string]*Reading{
		"point":  {ApplianceID: "a", DeviceID: "d", Point: "p\xff", Seq: 1},
		"unit":   {ApplianceID: "a", DeviceID: "d", Point: "p", Unit: "\xc3", Seq: 1},
		"reason": {ApplianceID: "a", DeviceID: "d", Point: "p", Reason: "\xff", Quality: protocols.Bad, Seq: 1},
		"value":  {ApplianceID: "a", DeviceID: "d", Point: "p", Str: func() *string { s := "\xff"; return &s }(), Seq: 1},
	} {
		if _, err := r.Encode(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s not UTF-8: Encode error %v", name, err)
		}
	}
	if err := (&Reading{}).SetValue("\xff"); err == nil {
		t.Error("SetValue accepted a string that is not UTF-8")
	}
	ok := &Reading{ApplianceID: "a", DeviceID: "d", Point: "p", Str: &v, Seq: 1}
	if _, err := ok.Encode(); err != nil {
		t.Fatal(err)
	}
}
