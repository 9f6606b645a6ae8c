package reading

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"github.com/wotchain/wotchain/bridge/keytree"
)

// A poll signed again under another key verifies with that key only; in
// v2 its salts and root come from the new key's tree.
func TestResign(t *testing.T) {
	_, oldKey, _ := ed25519.GenerateKey(rand.Reader)
	newPub, newKey, _ := ed25519.GenerateKey(rand.Reader)
	oldTree, newTree := keytree.New(keytree.TreeSecret(oldKey)), keytree.New(keytree.TreeSecret(newKey))
	raw := v2Readings("press", 11, 4)
	for _, v2 := range []bool{false, true} {
		p := &PollRecord{ApplianceID: "app-1", DeviceID: "press", FirstSeq: 11, LastSeq: 14, PollIndex: 5}
		if v2 {
			p.PollRoot = make([]byte, 32) // Resign computes it
		}
		if err := p.Resign(oldKey, raw, oldTree); err != nil {
			t.Fatal(err)
		}
		oldRoot, oldSig := bytes.Clone(p.PollRoot), bytes.Clone(p.Signature)
		if err := p.Resign(newKey, raw, newTree); err != nil {
			t.Fatal(err)
		}
		leaves, err := p.Leaves(raw, newTree)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Verify(newPub, leaves); err != nil {
			t.Fatalf("v2=%v: the re-signed poll does not verify with the new key: %v", v2, err)
		}
		if bytes.Equal(p.Signature, oldSig) || p.FirstSeq != 11 || p.LastSeq != 14 || p.PollIndex != 5 || p.DeviceID != "press" {
			t.Fatalf("v2=%v: re-signed record %+v", v2, p)
		}
		if v2 && bytes.Equal(p.PollRoot, oldRoot) {
			t.Fatal("v2 poll root unchanged under the new key's salts")
		}
		if err := p.Resign(newKey, raw[:3], newTree); err == nil {
			t.Fatalf("v2=%v: signed over too few readings", v2)
		}
	}
}
