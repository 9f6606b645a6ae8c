package envelope

import (
	"bytes"
	"crypto/hpke"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/chaincode/format"
)

func genKey(t *testing.T, kemID uint16) hpke.PrivateKey {
	t.Helper()
	kem, err := hpke.NewKEM(kemID)
	if err != nil {
		t.Fatal(err)
	}
	k, err := kem.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func randomBody(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	testHeader = []byte("canonical header bytes")
	testSig    = []byte("header signature")
)

func parse(t *testing.T, obj []byte) *Object {
	t.Helper()
	o, err := Parse(obj)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// reencode re-serialises a (modified) object as Seal would.
func reencode(t *testing.T, o *Object) []byte {
	t.Helper()
	b, err := format.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTwoRecipients(t *testing.T) {
	owner := genKey(t, keys.KEMX25519)
	partner := genKey(t, keys.KEMMLKEM768X25519)
	stranger := genKey(t, keys.KEMX25519)
	for _, size := range []int{0, 1, DefaultChunkSize - 1, DefaultChunkSize, DefaultChunkSize + 1, 3*DefaultChunkSize + 100} {
		body := randomBody(t, size)
		obj, err := Seal(testHeader, testSig, body, []hpke.PublicKey{owner.PublicKey(), partner.PublicKey(), owner.PublicKey()})
		if err != nil {
			t.Fatal(err)
		}
		o := parse(t, obj)
		if !bytes.Equal(o.Header, testHeader) || !bytes.Equal(o.HeaderSig, testSig) {
			t.Fatal("header or signature not kept in clear")
		}
		if len(o.Recipients) != 2 {
			t.Fatalf("duplicate recipient not collapsed: %d recipients", len(o.Recipients))
		}
		wantChunks := max(1, (size+DefaultChunkSize-1)/DefaultChunkSize)
		if len(o.Chunks) != wantChunks {
			t.Fatalf("body of %d bytes in %d chunks, want %d", size, len(o.Chunks), wantChunks)
		}
		for name, k := range map[string]hpke.PrivateKey{"owner": owner, "partner": partner} {
			got, err := o.Open(k)
			if err != nil {
				t.Fatalf("size %d: %s cannot open: %v", size, name, err)
			}
			if !bytes.Equal(got, body) {
				t.Fatalf("size %d: %s got a different body", size, name)
			}
		}
		if _, err := o.Open(stranger); !errors.Is(err, ErrNotRecipient) {
			t.Fatalf("size %d: third key: %v, want ErrNotRecipient", size, err)
		}
	}
}

func TestSealNoRecipients(t *testing.T) {
	if _, err := Seal(testHeader, testSig, []byte("x"), nil); err == nil {
		t.Fatal("Seal without recipients succeeded")
	}
}

func TestTamperingFailsToDecrypt(t *testing.T) {
	owner := genKey(t, keys.KEMX25519)
	body := randomBody(t, 2*DefaultChunkSize+500) // three chunks
	obj, err := Seal(testHeader, testSig, body, []hpke.PublicKey{owner.PublicKey()})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(parse(t, obj).Chunks); n != 3 {
		t.Fatalf("want 3 chunks, got %d", n)
	}
	cases := []struct {
		name   string
		modify func(o *Object)
	}{
		{"chunk 0 first byte flipped", func(o *Object) { o.Chunks[0][0] ^= 1 }},
		{"chunk 1 middle byte flipped", func(o *Object) { o.Chunks[1][len(o.Chunks[1])/2] ^= 0x80 }},
		{"last chunk tag byte flipped", func(o *Object) { c := o.Chunks[2]; c[len(c)-1] ^= 1 }},
		{"last chunk dropped", func(o *Object) { o.Chunks = o.Chunks[:2] }},
		{"last two chunks dropped", func(o *Object) { o.Chunks = o.Chunks[:1] }},
		{"first chunk dropped", func(o *Object) { o.Chunks = o.Chunks[1:] }},
		{"chunks 0 and 1 swapped", func(o *Object) { o.Chunks[0], o.Chunks[1] = o.Chunks[1], o.Chunks[0] }},
		{"chunks 1 and 2 swapped", func(o *Object) { o.Chunks[1], o.Chunks[2] = o.Chunks[2], o.Chunks[1] }},
		{"chunk duplicated", func(o *Object) { o.Chunks = append(o.Chunks[:2], o.Chunks[1], o.Chunks[2]) }},
		{"chunk appended", func(o *Object) { o.Chunks = append(o.Chunks, o.Chunks[2]) }},
		{"header changed", func(o *Object) { o.Header = []byte("canonical header byteS") }},
		{"header extended", func(o *Object) { o.Header = append(o.Header, 0) }},
		{"wrapped key flipped", func(o *Object) { o.Recipients[0].Wrapped[40] ^= 1 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := parse(t, obj) // a fresh copy
			c.modify(o)
			tampered := reencode(t, o)
			o2, err := Parse(tampered)
			if err != nil {
				return // refused even earlier
			}
			if got, err := o2.Open(owner); err == nil {
				t.Fatalf("tampered object decrypted to %d bytes", len(got))
			}
		})
	}

	// The same operations on the raw object bytes: any single flipped byte
	// inside a chunk fails.
	o := parse(t, obj)
	for _, chunk := range o.Chunks {
		idx := bytes.Index(obj, chunk)
		if idx < 0 {
			t.Fatal("chunk not found in object bytes")
		}
		for _, off := range []int{0, len(chunk) / 3, len(chunk) - 1} {
			raw := append([]byte(nil), obj...)
			raw[idx+off] ^= 0x04
			p, err := Parse(raw)
			if err != nil {
				t.Fatalf("Parse of object with a chunk byte flipped: %v", err)
			}
			if _, err := p.Open(owner); err == nil {
				t.Fatalf("object with byte %d of a chunk flipped decrypted", off)
			}
		}
	}

	// Unmodified re-encoding still opens, so the failures above are the tampering.
	if got, err := parse(t, reencode(t, parse(t, obj))).Open(owner); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("untampered re-encoded object: %v", err)
	}
}

// A recipient entry copied from another object (another data key, another
// header) must not open this one.
func TestRecipientFromOtherObject(t *testing.T) {
	owner := genKey(t, keys.KEMX25519)
	a, _ := Seal(testHeader, testSig, []byte("body a"), []hpke.PublicKey{owner.PublicKey()})
	b, _ := Seal([]byte("another header"), testSig, []byte("body b"), []hpke.PublicKey{owner.PublicKey()})
	oa, ob := parse(t, a), parse(t, b)
	oa.Recipients = ob.Recipients
	if _, err := parse(t, reencode(t, oa)).Open(owner); err == nil {
		t.Fatal("object opened with another object's wrapped key")
	}
}

func TestParseRejects(t *testing.T) {
	owner := genKey(t, keys.KEMX25519)
	obj, err := Seal(testHeader, testSig, []byte("body"), []hpke.PublicKey{owner.PublicKey()})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		modify func(o *Object)
	}{
		{"wrong format", func(o *Object) { o.Format = "wotchain-block/2" }},
		{"empty format", func(o *Object) { o.Format = "" }},
		{"other KDF", func(o *Object) { o.KDF = 0x0002 }},
		{"other AEAD", func(o *Object) { o.AEAD = 0x0001 }},
		{"no chunks", func(o *Object) { o.Chunks = nil }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := parse(t, obj)
			c.modify(o)
			if _, err := Parse(reencode(t, o)); err == nil {
				t.Fatal("Parse accepted")
			}
		})
	}
	for _, bad := range [][]byte{nil, []byte("garbage"), obj[:len(obj)-1]} {
		if _, err := Parse(bad); err == nil {
			t.Fatalf("Parse(%x) accepted", bad)
		}
	}
}

func TestHashChangesWithEverySeal(t *testing.T) {
	owner := genKey(t, keys.KEMX25519)
	body := []byte("same body")
	seen := map[string]bool{}
	chunks := map[string]bool{}
	for i := 0; i < 5; i++ {
		obj, err := Seal(testHeader, testSig, body, []hpke.PublicKey{owner.PublicKey()})
		if err != nil {
			t.Fatal(err)
		}
		h := Hash(obj)
		if len(h) != 64 {
			t.Fatalf("Hash %q is not hex SHA-256", h)
		}
		if Hash(obj) != h {
			t.Fatal("Hash is not deterministic")
		}
		if seen[h] {
			t.Fatal("two seals of the same block produced the same object hash")
		}
		seen[h] = true
		c := string(parse(t, obj).Chunks[0])
		if chunks[c] {
			t.Fatal("two seals produced the same ciphertext: the data key is not fresh")
		}
		chunks[c] = true
	}
}
