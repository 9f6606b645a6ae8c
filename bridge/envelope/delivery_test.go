package envelope

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/chaincode/format"
)

func TestDeliveryNameV2(t *testing.T) {
	kid, bid := strings.Repeat("a", 32), strings.Repeat("b", 64)
	if got, want := DeliveryNameV2(kid, bid, "grant-1.a_B"), "keys/"+kid+"/"+bid+"/grant-1.a_B"; got != want {
		t.Fatalf("name %q, want %q", got, want)
	}
	// Ids that could escape a directory or a prefix, or be empty, are
	// named by their hash; distinct ids get distinct names.
	seen := map[string]string{}
	for _, id := range []string{"../x", "..", ".hidden", "a/b", "", "é", strings.Repeat("x", 129), "~" + strings.Repeat("0", 64)} {
		name := GrantName(id)
		if !strings.HasPrefix(name, "~") || len(name) != 65 || strings.ContainsAny(name, "/.") {
			t.Fatalf("grant id %q named %q", id, name)
		}
		if other, dup := seen[name]; dup {
			t.Fatalf("grant ids %q and %q share the name %q", id, other, name)
		}
		seen[name] = id
	}
}

func TestDeliveryV2(t *testing.T) {
	f := newV2Fixture(t)
	owner, partner, other := genKey(t, keys.KEMX25519), genKey(t, keys.KEMX25519), genKey(t, keys.KEMMLKEM768X25519)
	obj, err := ParseV2(f.seal(t, owner.PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDeliveryV2(f.header, "g1", []byte("the grant's key set"), partner.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if d.Format != DeliveryFormatV2 || d.BlockID != format.BlockID(f.header) || d.GrantID != "g1" || d.Recipient.KeyID != keys.KeyID(partner.PublicKey()) {
		t.Fatalf("delivery %+v", d)
	}
	raw, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseDeliveryV2(raw)
	if err != nil {
		t.Fatal(err)
	}
	if ks, err := obj.OpenDeliveryV2(back, partner); err != nil || string(ks) != "the grant's key set" {
		t.Fatalf("OpenDeliveryV2 = %q, %v", ks, err)
	}
	if _, err := obj.OpenDeliveryV2(back, other); !errors.Is(err, ErrNotRecipient) {
		t.Fatalf("another key opens the delivery: %v", err)
	}
	if _, err := ParseDelivery(raw); err == nil {
		t.Fatal("a v2 delivery parsed as v1")
	}
	// Another block: a delivery naming it, or one wrapped for its header, does not open.
	moved := *back
	moved.BlockID = strings.Repeat("0", 64)
	if _, err := obj.OpenDeliveryV2(&moved, partner); err == nil {
		t.Fatal("a delivery for another block id opened")
	}
	foreign, err := NewDeliveryV2([]byte("another header"), "g1", []byte("k"), partner.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	foreign.BlockID = back.BlockID
	if _, err := obj.OpenDeliveryV2(foreign, partner); err == nil {
		t.Fatal("an entry wrapped for another header opened")
	}

	bad := func(name string, change func(d *Delivery)) {
		t.Helper()
		c := *back
		change(&c)
		b, err := format.Marshal(&c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseDeliveryV2(b); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	bad("v1 format", func(d *Delivery) { d.Format = DeliveryFormat })
	bad("no grant", func(d *Delivery) { d.GrantID = "" })
	bad("short block id", func(d *Delivery) { d.BlockID = d.BlockID[:63] })
	bad("upper-case block id", func(d *Delivery) { d.BlockID = strings.ToUpper(d.BlockID) })
	bad("bad key id", func(d *Delivery) { d.Recipient.KeyID = "x" })
	bad("unknown KEM", func(d *Delivery) { d.Recipient.KEM = 0x9999 })
	bad("nothing wrapped", func(d *Delivery) { d.Recipient.Wrapped = nil })
	if _, err := ParseDeliveryV2(append(bytes.Clone(raw), 0)); err == nil {
		t.Error("trailing byte: parsed")
	}
	// An unknown field: the map with one more key.
	type extra struct {
		Delivery
		X int `cbor:"5,keyasint"`
	}
	b, err := format.Marshal(&extra{Delivery: *back, X: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseDeliveryV2(b); err == nil {
		t.Error("unknown field: parsed")
	}
}
