package envelope

import (
	"bytes"
	"crypto/hpke"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/chaincode/format"
)

func encodeRecord(t testing.TB, device string, first, last, index uint64) []byte {
	t.Helper()
	root := sha256.Sum256([]byte(fmt.Sprint(device, first)))
	b, err := reading.EncodePoll(&reading.PollRecord{ApplianceID: "app-1", DeviceID: device, FirstSeq: first, LastSeq: last,
		Signature: bytes.Repeat([]byte{0x5a}, 64), PollIndex: index, PollRoot: root[:]})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sectionKey(k int) [32]byte { return sha256.Sum256([]byte(fmt.Sprint("section key ", k))) }

// v2Fixture is three polls of two devices, with seqs from 10.
type v2Fixture struct {
	header, sig, keySet []byte
	polls               []PollInput
}

func newV2Fixture(t testing.TB) *v2Fixture {
	t.Helper()
	f := &v2Fixture{
		header: []byte("canonical header v2 bytes"),
		sig:    bytes.Repeat([]byte{7}, 64),
		keySet: []byte("the block's full key set, opaque to the envelope"),
	}
	seq := uint64(10)
	for k, n := range []int{3, 1, 5} {
		device := []string{"press", "oven", "press"}[k]
		p := PollInput{Record: encodeRecord(t, device, seq, seq+uint64(n)-1, uint64(k)), SectionKey: sectionKey(k)}
		for j := range n {
			p.Readings = append(p.Readings, []byte(fmt.Sprintf("reading %s seq %d value %d", device, seq, j*j)))
			seq++
		}
		f.polls = append(f.polls, p)
	}
	return f
}

func (f *v2Fixture) seal(t testing.TB, recipients ...hpke.PublicKey) []byte {
	t.Helper()
	c, err := NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	obj, err := c.SealV2(f.header, f.sig, f.keySet, f.polls, recipients)
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

func mustCodec(t testing.TB) *Codec {
	t.Helper()
	c, err := NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestV2RoundTrip(t *testing.T) {
	owner, partner := genKey(t, keys.KEMX25519), genKey(t, keys.KEMMLKEM768X25519)
	f := newV2Fixture(t)
	raw := f.seal(t, owner.PublicKey(), partner.PublicKey(), owner.PublicKey())
	if got, err := FormatOf(raw); err != nil || got != FormatV2 {
		t.Fatalf("FormatOf = %q, %v", got, err)
	}
	o, err := ParseV2(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Recipients) != 2 {
		t.Fatalf("%d recipients, want 2 (the owner listed twice is wrapped once)", len(o.Recipients))
	}
	for _, priv := range []hpke.PrivateKey{owner, partner} {
		ks, err := o.KeySet(priv)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ks, f.keySet) {
			t.Fatalf("key set %q", ks)
		}
	}
	if _, err := o.KeySet(genKey(t, keys.KEMX25519)); !errors.Is(err, ErrNotRecipient) {
		t.Fatalf("a stranger's key: %v, want ErrNotRecipient", err)
	}
	c := mustCodec(t)
	for k, p := range f.polls {
		if !bytes.Equal(o.Polls[k].Record, p.Record) {
			t.Fatalf("poll %d record changed", k)
		}
		got, err := o.OpenPoll(c, k, p.SectionKey)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(p.Readings) {
			t.Fatalf("poll %d: %d readings, want %d", k, len(got), len(p.Readings))
		}
		for j := range got {
			if !bytes.Equal(got[j], p.Readings[j]) {
				t.Fatalf("poll %d reading %d: %q, want %q", k, j, got[j], p.Readings[j])
			}
		}
		if _, err := o.OpenPoll(c, k, sectionKey(k+1)); !errors.Is(err, ErrSectionAuth) {
			t.Fatalf("poll %d opened with another poll's key: %v", k, err)
		}
	}
	if _, err := o.OpenPoll(c, len(f.polls), sectionKey(0)); err == nil {
		t.Fatal("opened a poll past the end")
	}
	// The v1 reader refuses a v2 object and the other way round.
	if _, err := Parse(raw); err == nil {
		t.Fatal("Parse (v1) accepted a v2 object")
	}
	v1, err := Seal(f.header, f.sig, []byte("body"), []hpke.PublicKey{owner.PublicKey()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseV2(v1); err == nil {
		t.Fatal("ParseV2 accepted a v1 object")
	}
	if got, err := FormatOf(v1); err != nil || got != Format {
		t.Fatalf("FormatOf(v1) = %q, %v", got, err)
	}
}

// openAll is what an owner does: parse, unwrap the key set, open every poll.
func openAll(raw []byte, owner hpke.PrivateKey, f *v2Fixture) error {
	o, err := ParseV2(raw)
	if err != nil {
		return err
	}
	ks, err := o.KeySet(owner)
	if err != nil {
		return err
	}
	if !bytes.Equal(ks, f.keySet) {
		return errors.New("key set changed")
	}
	c, err := NewCodec()
	if err != nil {
		return err
	}
	for k, p := range f.polls {
		got, err := o.OpenPoll(c, k, p.SectionKey)
		if err != nil {
			return err
		}
		for j := range got {
			if !bytes.Equal(got[j], p.Readings[j]) {
				return fmt.Errorf("poll %d reading %d changed", k, j)
			}
		}
	}
	return nil
}

// TestV2EveryFlippedByteFails flips each bit pattern of every byte of the
// object. The owner's open must fail unless the byte lies in a poll record
// or the header signature: those are in clear, authenticated by the poll
// and header signatures that the block reader checks, not by the AEAD.
func TestV2EveryFlippedByteFails(t *testing.T) {
	owner := genKey(t, keys.KEMX25519)
	f := newV2Fixture(t)
	raw := f.seal(t, owner.PublicKey())
	if err := openAll(raw, owner, f); err != nil {
		t.Fatal(err)
	}
	signed := make([]bool, len(raw))
	spans := [][]byte{f.sig}
	for _, p := range f.polls {
		spans = append(spans, p.Record)
	}
	for _, s := range spans {
		at := bytes.Index(raw, s)
		if at < 0 || bytes.Index(raw[at+1:], s) >= 0 {
			t.Fatal("span not found exactly once")
		}
		for i := range s {
			signed[at+i] = true
		}
	}
	for i := range raw {
		if signed[i] {
			continue
		}
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(raw)
			bad[i] ^= mask
			if err := openAll(bad, owner, f); err == nil {
				t.Fatalf("byte %d of %d flipped with %#02x still opens", i, len(raw), mask)
			}
		}
	}
}

func TestV2SectionTamperingAndContext(t *testing.T) {
	f := newV2Fixture(t)
	c := mustCodec(t)
	hh := headerHash(f.header)
	p := f.polls[2]
	ct, err := c.SealSection(EncodingZstdCBOR, p.SectionKey, hh, 2, p.Readings)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.OpenSection(EncodingZstdCBOR, p.SectionKey, hh, 2, ct); err != nil {
		t.Fatal(err)
	}
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		if _, err := c.OpenSection(EncodingZstdCBOR, p.SectionKey, hh, 2, bad); !errors.Is(err, ErrSectionAuth) {
			t.Fatalf("section byte %d flipped: %v", i, err)
		}
	}
	for i := range hh {
		other := hh
		other[i] ^= 0x01
		if _, err := c.OpenSection(EncodingZstdCBOR, p.SectionKey, other, 2, ct); !errors.Is(err, ErrSectionAuth) {
			t.Fatalf("header hash byte %d flipped: %v", i, err)
		}
	}
	for _, k := range []uint64{0, 1, 3, 2 | 1<<32, 2 << 56} {
		if _, err := c.OpenSection(EncodingZstdCBOR, p.SectionKey, hh, k, ct); !errors.Is(err, ErrSectionAuth) {
			t.Fatalf("section of position 2 opened at %d: %v", k, err)
		}
	}
	if _, err := c.OpenSection(EncodingZstdCBOR, p.SectionKey, hh, 2, ct[:len(ct)-1]); !errors.Is(err, ErrSectionAuth) {
		t.Fatalf("truncated section: %v", err)
	}
	if _, err := c.OpenSection(99, p.SectionKey, hh, 2, ct); err == nil {
		t.Fatal("unknown encoding opened")
	}
}

// TestV2SectionMovedFails: even with one key for every section (the worst
// case), a section moved to another position of the object, or into
// another block, does not open.
func TestV2SectionMovedFails(t *testing.T) {
	owner := genKey(t, keys.KEMX25519)
	f := newV2Fixture(t)
	for k := range f.polls {
		f.polls[k].SectionKey = sectionKey(0)
	}
	o, err := ParseV2(f.seal(t, owner.PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	c := mustCodec(t)
	swapped := *o
	swapped.Polls = append([]PollSection(nil), o.Polls...)
	swapped.Polls[0].Section, swapped.Polls[1].Section = o.Polls[1].Section, o.Polls[0].Section
	for k := range 2 {
		if _, err := swapped.OpenPoll(c, k, sectionKey(0)); !errors.Is(err, ErrSectionAuth) {
			t.Fatalf("moved section at %d: %v", k, err)
		}
	}
	if _, err := swapped.OpenPoll(c, 2, sectionKey(0)); err != nil {
		t.Fatalf("the unmoved section: %v", err)
	}
	other := *o
	other.Header = []byte("the header of another block")
	if _, err := other.OpenPoll(c, 0, sectionKey(0)); !errors.Is(err, ErrSectionAuth) {
		t.Fatalf("section in another block: %v", err)
	}
	if _, err := other.KeySet(owner); err == nil {
		t.Fatal("key set unwrapped under another block's header")
	}
}

// TestKeySetWrapIsBound: a v2 key set opens only under its own header and
// the v2 info; a v1 data key entry never opens as a v2 key set.
func TestKeySetWrapIsBound(t *testing.T) {
	priv := genKey(t, keys.KEMX25519)
	h := []byte("header")
	rec, err := WrapKeySet(h, []byte("keys"), priv.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := UnwrapKeySet(h, &rec, priv); err != nil || string(got) != "keys" {
		t.Fatalf("UnwrapKeySet = %q, %v", got, err)
	}
	if _, err := UnwrapKeySet([]byte("header2"), &rec, priv); err == nil {
		t.Fatal("key set unwrapped under another header")
	}
	if _, err := UnwrapKeySet(h, &rec, genKey(t, keys.KEMX25519)); !errors.Is(err, ErrNotRecipient) {
		t.Fatalf("another key: %v", err)
	}
	v1, err := Wrap(h, bytes.Repeat([]byte{1}, 32), priv.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := UnwrapKeySet(h, &v1, priv); err == nil {
		t.Fatal("a v1 data key entry unwrapped as a v2 key set")
	}
	if _, err := unwrap(h, &rec, priv); err == nil {
		t.Fatal("a v2 key-set entry unwrapped as a v1 data key")
	}
}

// mutateV2 parses a sealed object, changes it, and re-encodes it canonically.
func mutateV2(t *testing.T, raw []byte, change func(o *ObjectV2)) []byte {
	t.Helper()
	o, err := ParseV2(raw)
	if err != nil {
		t.Fatal(err)
	}
	change(o)
	b, err := format.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseV2Strict(t *testing.T) {
	owner := genKey(t, keys.KEMX25519)
	f := newV2Fixture(t)
	raw := f.seal(t, owner.PublicKey(), genKey(t, keys.KEMMLKEM768X25519).PublicKey())
	rec := func(first, last uint64) []byte { return encodeRecord(t, "press", first, last, 0) }
	cases := map[string][]byte{
		"empty":             {},
		"trailing byte":     append(bytes.Clone(raw), 0),
		"trailing item":     append(bytes.Clone(raw), raw...),
		"v1 format":         mutateV2(t, raw, func(o *ObjectV2) { o.Format = Format }),
		"unknown format":    mutateV2(t, raw, func(o *ObjectV2) { o.Format = "wotchain-block/3" }),
		"kdf":               mutateV2(t, raw, func(o *ObjectV2) { o.KDF = 3 }),
		"aead":              mutateV2(t, raw, func(o *ObjectV2) { o.AEAD = 1 }),
		"encoding 0":        mutateV2(t, raw, func(o *ObjectV2) { o.Encoding = 0 }),
		"encoding 9":        mutateV2(t, raw, func(o *ObjectV2) { o.Encoding = 9 }),
		"no header":         mutateV2(t, raw, func(o *ObjectV2) { o.Header = []byte{} }),
		"short sig":         mutateV2(t, raw, func(o *ObjectV2) { o.HeaderSig = o.HeaderSig[:63] }),
		"no recipients":     mutateV2(t, raw, func(o *ObjectV2) { o.Recipients = []Recipient{} }),
		"null recipients":   mutateV2(t, raw, func(o *ObjectV2) { o.Recipients = nil }),
		"dup recipient":     mutateV2(t, raw, func(o *ObjectV2) { o.Recipients = append(o.Recipients, o.Recipients[0]) }),
		"upper key id":      mutateV2(t, raw, func(o *ObjectV2) { o.Recipients[0].KeyID = strings.ToUpper(o.Recipients[0].KeyID) }),
		"short key id":      mutateV2(t, raw, func(o *ObjectV2) { o.Recipients[0].KeyID = o.Recipients[0].KeyID[:30] }),
		"unknown KEM":       mutateV2(t, raw, func(o *ObjectV2) { o.Recipients[0].KEM = 0x0010 }),
		"nothing wrapped":   mutateV2(t, raw, func(o *ObjectV2) { o.Recipients[1].Wrapped = []byte{} }),
		"no polls":          mutateV2(t, raw, func(o *ObjectV2) { o.Polls = []PollSection{} }),
		"polls swapped":     mutateV2(t, raw, func(o *ObjectV2) { o.Polls[0], o.Polls[1] = o.Polls[1], o.Polls[0] }),
		"poll twice":        mutateV2(t, raw, func(o *ObjectV2) { o.Polls = append(o.Polls, o.Polls[2]) }),
		"poll dropped":      mutateV2(t, raw, func(o *ObjectV2) { o.Polls = append(o.Polls[:1], o.Polls[2]) }),
		"seq gap":           mutateV2(t, raw, func(o *ObjectV2) { o.Polls[1].Record = rec(14, 14) }),
		"seq overlap":       mutateV2(t, raw, func(o *ObjectV2) { o.Polls[1].Record = rec(12, 13) }),
		"inverted range":    mutateV2(t, raw, func(o *ObjectV2) { o.Polls[0].Record = rec(12, 10) }),
		"seq wraps":         mutateV2(t, raw, func(o *ObjectV2) { o.Polls = o.Polls[:1]; o.Polls[0].Record = rec(1<<64-3, 1<<64-1) }),
		"record not CBOR":   mutateV2(t, raw, func(o *ObjectV2) { o.Polls[0].Record = []byte{0xff} }),
		"section too short": mutateV2(t, raw, func(o *ObjectV2) { o.Polls[0].Section = o.Polls[0].Section[:15] }),
	}
	v1rec, err := reading.EncodePoll(&reading.PollRecord{ApplianceID: "app-1", DeviceID: "press", FirstSeq: 10, LastSeq: 12, Signature: make([]byte, 64)})
	if err != nil {
		t.Fatal(err)
	}
	cases["v1 poll record"] = mutateV2(t, raw, func(o *ObjectV2) { o.Polls[0].Record = v1rec })
	// Non-canonical forms of the same content: a longer head for the KDF id,
	// an unknown field, a duplicate key (two field-1 entries).
	kdf := []byte{0x04, 0x01} // key 4, value 1
	at := bytes.Index(raw, kdf)
	if at < 0 {
		t.Fatal("no KDF field")
	}
	cases["long int head"] = append(append(bytes.Clone(raw[:at+1]), 0x18, 0x01), raw[at+2:]...)
	withField := func(extra []byte, count byte) []byte {
		b := bytes.Clone(raw)
		b[0] = 0xa0 | count // map of 8 entries becomes count
		return append(b, extra...)
	}
	cases["unknown field"] = withField([]byte{0x09, 0x00}, 9)
	cases["duplicate field"] = withField([]byte{0x07, 0x01}, 9)
	if raw[0] != 0xa8 {
		t.Fatalf("object starts with %#02x, want a map of 8", raw[0])
	}
	for name, b := range cases {
		if _, err := ParseV2(b); err == nil {
			t.Errorf("%s: ParseV2 accepted it", name)
		}
	}
	if _, err := ParseV2(raw); err != nil {
		t.Fatal(err)
	}
}

// TestSectionPlaintextCanonical: the section plaintext is format.Marshal's
// array of the readings, and its parser takes exactly that form back.
func TestSectionPlaintextCanonical(t *testing.T) {
	for _, sizes := range [][]int{{0}, {1, 23, 24}, {255, 256}, {65535, 65536}, make([]int, 24), make([]int, 300)} {
		items := make([][]byte, len(sizes))
		for i, n := range sizes {
			items[i] = bytes.Repeat([]byte{byte(i)}, n)
		}
		back, err := parseReadings(mustMarshal(items))
		if err != nil || len(back) != len(items) {
			t.Fatalf("parse back: %d items, %v", len(back), err)
		}
		for i := range items {
			if !bytes.Equal(back[i], items[i]) {
				t.Fatalf("sizes %v: item %d differs after the round trip", sizes[:min(len(sizes), 4)], i)
			}
		}
	}
	bad := map[string][]byte{
		"empty input":       {},
		"empty array":       {0x80},
		"indefinite array":  {0x9f, 0x41, 1, 0xff},
		"indefinite bytes":  {0x81, 0x5f, 0x41, 1, 0xff},
		"long array head":   {0x98, 0x01, 0x41, 1},
		"long bytes head":   {0x81, 0x58, 0x01, 1},
		"long bytes head 2": {0x81, 0x59, 0x00, 0x01, 1},
		"text not bytes":    {0x81, 0x61, 'a'},
		"map not array":     {0xa1, 0x41, 1, 0x41, 2},
		"trailing":          {0x81, 0x41, 1, 0},
		"truncated item":    {0x81, 0x42, 1},
		"count lies":        {0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x41, 1},
		"missing item":      {0x82, 0x41, 1},
	}
	for name, b := range bad {
		if _, err := parseReadings(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestSectionDecompressionCap: a section that decompresses beyond the
// codec's cap is refused, whether its frame declares the size or not, and
// the sealer refuses to write one.
func TestSectionDecompressionCap(t *testing.T) {
	const limit = 1 << 20
	small, err := newCodec(limit)
	if err != nil {
		t.Fatal(err)
	}
	big := mustCodec(t)
	key, hh := sectionKey(0), headerHash([]byte("h"))
	bomb := [][]byte{make([]byte, 4*limit)} // zeros: a few hundred bytes compressed
	if _, err := small.SealSection(EncodingZstdCBOR, key, hh, 0, bomb); err == nil {
		t.Fatal("sealed a section over the cap")
	}
	ct, err := big.SealSection(EncodingZstdCBOR, key, hh, 0, bomb)
	if err != nil {
		t.Fatal(err)
	}
	if len(ct) > 4096 {
		t.Fatalf("bomb of %d bytes does not test expansion", len(ct))
	}
	if _, err := small.OpenSection(EncodingZstdCBOR, key, hh, 0, ct); err == nil || !strings.Contains(err.Error(), "cap") {
		t.Fatalf("declared-size bomb: %v", err)
	}
	// A streamed frame does not declare its size: the decoder's own limit
	// must stop it (a window within the cap, so the size is what trips).
	var frame bytes.Buffer
	w, err := zstd.NewWriter(&frame, zstd.WithWindowSize(1<<16))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(mustMarshal(bomb)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var h zstd.Header
	if err := h.Decode(frame.Bytes()); err != nil || h.HasFCS {
		t.Fatalf("streamed frame declares its size (%v)", err)
	}
	gcm, err := newGCM(key[:])
	if err != nil {
		t.Fatal(err)
	}
	sealed := gcm.Seal(nil, sectionNonce[:], frame.Bytes(), SectionAAD(hh, 0))
	if _, err := small.OpenSection(EncodingZstdCBOR, key, hh, 0, sealed); err == nil || !strings.Contains(err.Error(), "cap") {
		t.Fatalf("undeclared-size bomb: %v", err)
	}
	got, err := big.OpenSection(EncodingZstdCBOR, key, hh, 0, sealed)
	if err != nil || len(got) != 1 || len(got[0]) != 4*limit {
		t.Fatalf("under the real cap the same section opens: %v", err)
	}
	// Garbage that authenticates is refused, not a panic.
	junk := gcm.Seal(nil, sectionNonce[:], []byte("not a zstd frame"), SectionAAD(hh, 0))
	if _, err := big.OpenSection(EncodingZstdCBOR, key, hh, 0, junk); err == nil {
		t.Fatal("a non-zstd section opened")
	}
}

// TestSectionSealAllocations: the codec reuses its zstd encoder and
// scratch buffers, so sealing a poll allocates about a constant few
// objects (the AES-GCM state, the AAD, the plaintext array and the
// ciphertext) whatever the poll's size.
func TestSectionSealAllocations(t *testing.T) {
	c := mustCodec(t)
	readings := make([][]byte, 100)
	for i := range readings {
		readings[i] = []byte(fmt.Sprintf("reading %03d of a hundred-point poll, value %d", i, i*i))
	}
	hh := headerHash([]byte("h"))
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := c.SealSection(EncodingZstdCBOR, sectionKey(1), hh, 3, readings); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 7 {
		t.Fatalf("sealing one section allocates %.0f objects, want at most 7", allocs)
	}
	ct, err := c.SealSection(EncodingZstdCBOR, sectionKey(1), hh, 3, readings)
	if err != nil {
		t.Fatal(err)
	}
	allocs = testing.AllocsPerRun(50, func() {
		if _, err := c.OpenSection(EncodingZstdCBOR, sectionKey(1), hh, 3, ct); err != nil {
			t.Fatal(err)
		}
	})
	// Opening is a reader's path (owner, partner, proofs), not the
	// appliance's: the CBOR library copies each reading once, plus a few.
	if max := float64(len(readings) + 12); allocs > max {
		t.Fatalf("opening one section allocates %.0f objects, want at most %.0f", allocs, max)
	}
}

// mustMarshal is a section plaintext as the sealer writes it.
func mustMarshal(items [][]byte) []byte {
	b, err := format.Marshal(items)
	if err != nil {
		panic(err)
	}
	return b
}
