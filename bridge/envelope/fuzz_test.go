package envelope

import (
	"bytes"
	"crypto/hpke"
	"testing"

	"github.com/wotchain/wotchain/bridge/keys"
)

// Fixed keys, so that crashers saved under testdata/fuzz reproduce: the
// owner (a recipient inside every object) and a partner licensed later
// through a key delivery.
func fuzzKeys() (owner, partner hpke.PrivateKey) {
	x, err := hpke.NewKEM(keys.KEMX25519)
	if err != nil {
		panic(err)
	}
	owner, err = x.DeriveKeyPair(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		panic(err)
	}
	pq, err := hpke.NewKEM(keys.KEMMLKEM768X25519)
	if err != nil {
		panic(err)
	}
	partner, err = pq.DeriveKeyPair(bytes.Repeat([]byte{2}, 32))
	if err != nil {
		panic(err)
	}
	return owner, partner
}

var (
	fuzzHeader = []byte("canonical header bytes of the fuzzed block")
	fuzzSig    = []byte("header signature")
)

// fuzzBodies are the plaintexts of the seed objects. They stay within one
// chunk: a 64 KiB seed stalls the fuzzer in minimisation, and chunk
// truncation and reordering are TestTamperingFailsToDecrypt's cases.
func fuzzBodies() [][]byte {
	return [][]byte{{}, []byte("a block body"), bytes.Repeat([]byte("readings "), 200)}
}

// FuzzParseOpen: Parse never panics on any object bytes, and Open with the
// owner key either fails or returns exactly the body that was sealed under
// exactly the header that was sealed. Recipient list, chunk size and the
// header signature are not authenticated by the data key, so they may
// change; the header and the ciphertext may not.
func FuzzParseOpen(f *testing.F) {
	owner, partner := fuzzKeys()
	bodies := fuzzBodies()
	for _, body := range bodies {
		obj, err := Seal(fuzzHeader, fuzzSig, body, []hpke.PublicKey{owner.PublicKey(), partner.PublicKey()})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(obj)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := Parse(data)
		if err != nil {
			return
		}
		if o.Format != Format || len(o.Chunks) == 0 {
			t.Fatalf("Parse accepted format %q with %d chunks", o.Format, len(o.Chunks))
		}
		plain, err := o.Open(owner)
		if err != nil {
			return
		}
		if !bytes.Equal(o.Header, fuzzHeader) {
			t.Fatalf("opened under a changed header %q", o.Header)
		}
		found := false
		for _, b := range bodies {
			found = found || bytes.Equal(plain, b)
		}
		if !found {
			t.Fatalf("Open returned %d bytes that were never sealed", len(plain))
		}
	})
}

// FuzzParseDelivery: ParseDelivery never panics, and a delivery opens a
// real object (with the partner key) only to the body that was sealed.
func FuzzParseDelivery(f *testing.F) {
	owner, partner := fuzzKeys()
	body := []byte("licensed block body")
	raw, err := Seal(fuzzHeader, fuzzSig, body, []hpke.PublicKey{owner.PublicKey()})
	if err != nil {
		f.Fatal(err)
	}
	obj, err := Parse(raw)
	if err != nil {
		f.Fatal(err)
	}
	dataKey, err := obj.DataKey(owner)
	if err != nil {
		f.Fatal(err)
	}
	rec, err := Wrap(fuzzHeader, dataKey, partner.PublicKey())
	if err != nil {
		f.Fatal(err)
	}
	d := &Delivery{Format: DeliveryFormat, BlockID: "b1", GrantID: "g-1", Recipient: rec}
	enc, err := d.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc, raw)
	f.Fuzz(func(t *testing.T, data, object []byte) {
		d, err := ParseDelivery(data)
		if err != nil {
			return
		}
		if d.Format != DeliveryFormat {
			t.Fatalf("accepted format %q", d.Format)
		}
		o, err := Parse(object)
		if err != nil {
			return
		}
		plain, err := o.OpenDelivered(d, partner)
		if err != nil {
			return
		}
		if !bytes.Equal(plain, body) || !bytes.Equal(o.Header, fuzzHeader) {
			t.Fatalf("delivery opened %q under header %q", plain, o.Header)
		}
	})
}
