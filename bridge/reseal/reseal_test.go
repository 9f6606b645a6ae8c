package reseal

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

type testKey struct {
	id   string
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

func newTestKey(t *testing.T) testKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{format.KeyID(pub), pub, priv}
}

// block is a pending block record at height, readings 10h+1..10h+10,
// signed by k and naming it when named.
func block(height uint64, k testKey, named bool) *store.BlockRecord {
	hb := []byte{byte(height), 7}
	b := &store.BlockRecord{Height: height, Header: hb, HeaderSig: format.SignHeader(k.priv, hb), FirstSeq: 10*height + 1, LastSeq: 10*height + 10}
	if named {
		b.KeyID = k.id
	}
	return b
}

func blocks(from, to uint64, k testKey) []*store.BlockRecord {
	var out []*store.BlockRecord
	for h := from; h <= to; h++ {
		out = append(out, block(h, k, true))
	}
	return out
}

func TestDecide(t *testing.T) {
	k1, k2, k3 := newTestKey(t), newTestKey(t), newTestKey(t)
	entry := func(k testKey, from, to uint64, cut bool) rules.ApplianceKey {
		return rules.ApplianceKey{ID: k.id, PublicKey: k.pub, FromHeight: from, ToHeight: to, Cut: cut, RotatedAt: map[bool]int64{true: 1}[to != 0 && !cut]}
	}
	app := func(keys ...rules.ApplianceKey) *rules.Appliance {
		return &rules.Appliance{ID: "app-1", PublicKey: keys[len(keys)-1].PublicKey, Keys: keys}
	}
	// k1 rotated out at 4 with its backlog 2..3, then revoked: cut at 2.
	cutRotated := app(entry(k1, 0, 2, true), entry(k2, 2, 0, false))
	for _, c := range []struct {
		name    string
		pending []*store.BlockRecord
		app     *rules.Appliance
		current testKey
		want    Plan
		err     string
	}{
		{"nothing pending", nil, cutRotated, k2, Plan{}, ""},
		{"anchorable under their keys", append(blocks(2, 3, k1), blocks(4, 5, k2)...), app(entry(k1, 0, 4, false), entry(k2, 4, 0, false)), k2, Plan{}, ""},
		{"rotated key's backlog and the blocks after it", append(blocks(2, 3, k1), blocks(4, 5, k2)...), cutRotated, k2,
			Plan{From: 2, To: 5, FirstSeq: 21, Revoked: []string{k1.id}}, ""},
		{"only later blocks stranded", append(blocks(1, 1, k1), blocks(2, 3, k1)...), cutRotated, k2,
			Plan{From: 2, To: 3, FirstSeq: 21, Revoked: []string{k1.id}}, ""},
		{"current key cut, no rotation yet", blocks(3, 4, k1), app(entry(k1, 0, 3, true)), k1, Plan{}, "rotate the key"},
		{"current key cut, then rotated", blocks(3, 4, k1), app(entry(k1, 0, 3, true), entry(k2, 3, 0, false)), k2,
			Plan{From: 3, To: 4, FirstSeq: 31, Revoked: []string{k1.id}}, ""},
		{"the ledger's key is not ours", blocks(3, 3, k1), app(entry(k1, 0, 3, true), entry(k3, 3, 0, false)), k2, Plan{}, "not this appliance's current key " + k2.id},
		{"record without a key id, header of the ledger's key", []*store.BlockRecord{block(2, k2, false)}, cutRotated, k2, Plan{}, ""},
		{"record without a key id, header of the revoked key", []*store.BlockRecord{block(2, k1, false), block(3, k2, true)}, cutRotated, k2,
			Plan{From: 2, To: 3, FirstSeq: 21}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decide(c.pending, c.app, c.current.id)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %+v, %v; want an error saying %q", got, err, c.err)
				}
				return
			}
			if err != nil || got.From != c.want.From || got.To != c.want.To || got.FirstSeq != c.want.FirstSeq || !slices.Equal(got.Revoked, c.want.Revoked) {
				t.Fatalf("got %+v, %v; want %+v", got, err, c.want)
			}
		})
	}

	if _, err := Decide(blocks(3, 3, k1), app(entry(k1, 0, 3, true)), k1.id); !errors.Is(err, ErrNoKey) {
		t.Fatalf("no key for the height: %v, want ErrNoKey", err)
	}
	dropped := blocks(2, 4, k1)
	dropped[1].Dropped = true
	if _, err := Decide(dropped, cutRotated, k2.id); err == nil || !strings.Contains(err.Error(), "block 3") || !strings.Contains(err.Error(), "dropped") {
		t.Fatalf("a dropped block among the stranded: %v", err)
	}
	gap := append(blocks(2, 2, k1), blocks(4, 4, k1)...)
	if _, err := Decide(gap, cutRotated, k2.id); err == nil || !strings.Contains(err.Error(), "jump from 2 to 4") {
		t.Fatalf("pending blocks with a gap: %v", err)
	}
}
