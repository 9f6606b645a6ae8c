package reading

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"github.com/wotchain/wotchain/bridge/keytree"
)

// Leaves gives a stored poll's signed leaves: unsalted for v1, salted with
// the key tree's salts of the poll's key for v2; the wrong tree or none
// gives leaves its signature refuses, or an error.
func TestPollRecordLeaves(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	pub := priv.Public().(ed25519.PublicKey)
	tree := keytree.New(keytree.TreeSecret(priv))
	other := keytree.New(keytree.TreeSecret(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32))))
	enc := v2Readings("press-7", 20, 3)

	key := tree.PollKey("press-7", 12)
	leaves := SaltedLeaves(key, enc)
	for j := range enc {
		if !bytes.Equal(leaves[j], SaltedLeafHash(keytree.Salt(key, uint64(j)), enc[j])) {
			t.Fatalf("leaf %d is not salted with keytree.Salt(key, %d)", j, j)
		}
	}
	v2 := signedPollV2(t, priv, "press-7", 20, 12, leaves)
	got, err := v2.Leaves(enc, tree)
	if err != nil {
		t.Fatal(err)
	}
	if err := v2.Verify(pub, got); err != nil {
		t.Fatalf("v2 leaves from the tree: %v", err)
	}
	if wrong, err := v2.Leaves(enc, other); err != nil || v2.Verify(pub, wrong) == nil {
		t.Fatalf("leaves from another tree verified (%v)", err)
	}
	moved := *v2
	moved.PollIndex = 13
	if wrong, _ := moved.Leaves(enc, tree); v2.Verify(pub, wrong) == nil {
		t.Fatal("leaves of another poll index verified")
	}
	if _, err := v2.Leaves(enc, nil); err == nil {
		t.Fatal("v2 leaves without a tree")
	}
	if _, err := v2.Leaves(enc[:2], tree); err == nil {
		t.Fatal("v2 leaves of too few readings")
	}

	v1 := &PollRecord{ApplianceID: "app-1", DeviceID: "press-7", FirstSeq: 20, LastSeq: 22}
	got, err = v1.Leaves(enc, nil)
	if err != nil {
		t.Fatal(err)
	}
	for j := range enc {
		if !bytes.Equal(got[j], LeafHash(enc[j])) {
			t.Fatalf("v1 leaf %d is not LeafHash", j)
		}
	}
}
