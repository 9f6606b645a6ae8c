package format

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
)

const appID = "app-1"

func validHeader() *Header {
	return &Header{
		Version: HeaderV1, ApplianceID: appID, Height: 3, PrevHash: bytes.Repeat([]byte{7}, 32),
		FirstSeq: 10, LastSeq: 14, FirstTime: 100, LastTime: 200, Devices: []string{"a", "b"},
		Count: 5, MerkleRoot: bytes.Repeat([]byte{9}, 32), SealedAt: 300,
	}
}

// validHeaderV2 is validHeader as a v2 block of two polls.
func validHeaderV2() *Header {
	h := validHeader()
	h.Version, h.Polls = HeaderV2, 2
	return h
}

func TestParseHeaderValid(t *testing.T) {
	onePollPerReading := validHeaderV2()
	onePollPerReading.Polls = onePollPerReading.Count
	for _, h := range []*Header{
		validHeader(), func() *Header { h := validHeader(); h.Height, h.PrevHash = 0, nil; return h }(),
		validHeaderV2(), onePollPerReading,
	} {
		b, err := h.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseHeader(b)
		if err != nil {
			t.Fatalf("valid header refused: %v", err)
		}
		again, _ := got.Encode()
		if !bytes.Equal(again, b) {
			t.Fatal("parsed header re-encodes differently")
		}
		if BlockID(b) != BlockID(again) || len(BlockID(b)) != 64 {
			t.Fatalf("block id %q", BlockID(b))
		}
		if got.Version != h.Version || got.Polls != h.Polls {
			t.Fatalf("parsed version %d polls %d, want %d and %d", got.Version, got.Polls, h.Version, h.Polls)
		}
	}
}

// A v2 header is a v1 header plus field 13: the v1 encoding is unchanged
// (12 entries, no key 13), and the v2 one ends with the poll count.
func TestHeaderV2Encoding(t *testing.T) {
	v1, err := validHeader().Encode()
	if err != nil {
		t.Fatal(err)
	}
	v2, err := validHeaderV2().Encode()
	if err != nil {
		t.Fatal(err)
	}
	if v1[0] != 0xac || v2[0] != 0xad || v2[2] != 0x02 {
		t.Fatalf("v1 starts %x, v2 starts %x", v1[:3], v2[:3])
	}
	if tail := v2[len(v2)-2:]; !bytes.Equal(tail, []byte{0x0d, 0x02}) {
		t.Fatalf("v2 header ends %x, want 0d02 (polls = 2)", tail)
	}
	if bytes.Contains(v1[len(v1)-2:], []byte{0x0d}) {
		t.Fatalf("v1 header ends %x", v1[len(v1)-2:])
	}
}

func TestParseHeaderRejectsNonCanonical(t *testing.T) {
	b, err := validHeader().Encode()
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 0xac || b[1] != 0x01 || b[2] != 0x01 {
		t.Fatalf("unexpected header encoding start %x", b[:3])
	}
	cases := map[string][]byte{
		"map length in long form": append([]byte{0xb8, 12}, b[1:]...),
		"version in long form":    append([]byte{0xac, 0x01, 0x18, 0x01}, b[3:]...),
		"indefinite-length map":   append(append([]byte{0xbf}, b[1:]...), 0xff),
		"trailing byte":           append(append([]byte(nil), b...), 0),
		"truncated":               b[:len(b)-1],
		"empty":                   nil,
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseHeader(data); err == nil {
				t.Fatal("ParseHeader accepted")
			}
		})
	}
	// Keys out of order: move the version entry (01 01) to the end.
	reordered := append(append([]byte{0xac}, b[3:]...), 0x01, 0x01)
	var back Header
	if err := Unmarshal(reordered, &back); err != nil {
		t.Fatalf("reordered map should still decode loosely: %v", err)
	}
	if _, err := ParseHeader(reordered); err == nil {
		t.Fatal("ParseHeader accepted keys out of canonical order")
	}
}

func TestParseHeaderRejectsInconsistent(t *testing.T) {
	cases := []struct {
		name   string
		modify func(h *Header)
	}{
		{"version 0", func(h *Header) { h.Version = 0 }},
		{"version 2 without polls", func(h *Header) { h.Version = HeaderV2 }},
		{"version 3", func(h *Header) { h.Version, h.Polls = 3, 2 }},
		{"version 1 with polls", func(h *Header) { h.Polls = 1 }},
		{"version 2 with more polls than readings", func(h *Header) { h.Version, h.Polls = HeaderV2, 6 }},
		{"empty appliance", func(h *Header) { h.ApplianceID = "" }},
		{"first seq 0", func(h *Header) { h.FirstSeq, h.Count = 0, 15 }},
		{"range inverted", func(h *Header) { h.FirstSeq, h.LastSeq, h.Count = 14, 10, 5 }},
		{"count too small", func(h *Header) { h.Count = 4 }},
		{"count too large", func(h *Header) { h.Count = 6 }},
		{"time inverted", func(h *Header) { h.FirstTime, h.LastTime = 200, 100 }},
		{"merkle root short", func(h *Header) { h.MerkleRoot = h.MerkleRoot[:31] }},
		{"merkle root long", func(h *Header) { h.MerkleRoot = append(h.MerkleRoot, 0) }},
		{"merkle root missing", func(h *Header) { h.MerkleRoot = nil }},
		{"height 0 with prev hash", func(h *Header) { h.Height = 0 }},
		{"height 3 without prev hash", func(h *Header) { h.PrevHash = nil }},
		{"height 3 with short prev hash", func(h *Header) { h.PrevHash = h.PrevHash[:20] }},
		{"no devices", func(h *Header) { h.Devices = nil }},
		{"devices unsorted", func(h *Header) { h.Devices = []string{"b", "a"} }},
		{"devices duplicated", func(h *Header) { h.Devices = []string{"a", "a", "b"} }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := validHeader()
			c.modify(h)
			b, err := h.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ParseHeader(b); err == nil {
				t.Fatal("ParseHeader accepted an inconsistent header")
			}
			if h.Check() == nil {
				t.Fatal("Check accepted an inconsistent header")
			}
		})
	}
}

func TestVerifyHeaderSig(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	otherPub, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	hb, _ := validHeader().Encode()
	sig := SignHeader(priv, hb)
	if err := VerifyHeaderSig(pub, hb, sig); err != nil {
		t.Fatalf("valid signature refused: %v", err)
	}
	modified := validHeader()
	modified.LastTime++
	mb, _ := modified.Encode()
	flipped := append([]byte(nil), sig...)
	flipped[10] ^= 1
	cases := []struct {
		name     string
		pub      ed25519.PublicKey
		hdr, sig []byte
	}{
		{"other key", otherPub, hb, sig},
		{"signed by other key", pub, hb, SignHeader(otherPriv, hb)},
		{"modified header", pub, mb, sig},
		{"header byte flipped", pub, append(append([]byte(nil), hb[:5]...), append([]byte{hb[5] ^ 1}, hb[6:]...)...), sig},
		{"signature flipped", pub, hb, flipped},
		{"signature missing", pub, hb, nil},
		{"no domain separation", pub, hb, ed25519.Sign(priv, hb)},
		{"short public key", pub[:31], hb, sig},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := VerifyHeaderSig(c.pub, c.hdr, c.sig); err == nil {
				t.Fatal("VerifyHeaderSig accepted")
			}
		})
	}
}

// fuzzHeaders are consistent headers as the sealer writes them: a first
// block, and later ones of one and of several devices, in v1 and in v2.
func fuzzHeaders() []*Header {
	first := validHeader()
	first.Height, first.PrevHash, first.FirstSeq, first.LastSeq, first.Count, first.Devices = 0, nil, 1, 3, 3, []string{"press-1"}
	several := validHeader()
	several.Devices = []string{"boiler-1", "env-1", "press-1"}
	firstV2 := *first
	firstV2.Version, firstV2.Polls = HeaderV2, 1
	severalV2 := *several
	severalV2.Version, severalV2.Polls = HeaderV2, 3
	return []*Header{first, validHeader(), several, &firstV2, validHeaderV2(), &severalV2}
}

// FuzzParseHeader: ParseHeader never panics, and a header it accepts is
// canonical (re-encodes to the input), internally consistent, and has a
// stable id.
func FuzzParseHeader(f *testing.F) {
	for _, h := range fuzzHeaders() {
		b, err := h.Encode()
		if err != nil {
			f.Fatal(err)
		}
		if _, err := ParseHeader(b); err != nil {
			f.Fatalf("seed header refused: %v", err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseHeader(data)
		if err != nil {
			return
		}
		again, err := h.Encode()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted header is not canonical: %x vs %x (%v)", data, again, err)
		}
		if err := h.Check(); err != nil {
			t.Fatalf("accepted header fails Check: %v", err)
		}
		if h.Count != h.LastSeq-h.FirstSeq+1 || h.FirstSeq == 0 || len(h.MerkleRoot) != 32 || len(h.Devices) == 0 ||
			(h.Version == HeaderV1) != (h.Polls == 0) || h.Polls > h.Count {
			t.Fatalf("accepted inconsistent header %+v", h)
		}
		if BlockID(data) != BlockID(again) {
			t.Fatal("block id not stable")
		}
	})
}
