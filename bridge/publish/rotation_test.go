package publish

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"testing"

	"github.com/wotchain/wotchain/bridge/ingest"
	"github.com/wotchain/wotchain/bridge/keytree"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
)

// signedLeaf is the leaf of reading seq under the key tree of pub's
// private key, after checking that pub signed its poll with those leaves.
func signedLeaf(t *testing.T, e *env, seq uint64, tree *keytree.Tree, pub ed25519.PublicKey) []byte {
	t.Helper()
	first, raw, err := e.Store.PollAt(seq)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := reading.DecodePoll(raw)
	if err != nil {
		t.Fatal(err)
	}
	readings, err := e.Store.Readings(rec.FirstSeq, rec.LastSeq)
	if err != nil {
		t.Fatal(err)
	}
	leaves, err := rec.Leaves(readings, tree)
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Verify(pub, leaves); err != nil {
		t.Fatalf("poll of reading %d: %v", seq, err)
	}
	return leaves[seq-first]
}

// After a key rotation, readings stored and sealed under the old key but
// published after the restart with the new key take their salts from the
// old key's tree (the block that holds them names its signer); readings
// not sealed yet, from the new key's.
func TestSaltsAfterKeyRotation(t *testing.T) {
	e := newEnv(t)
	oldLast := e.ingest(t, 3)
	e.Seal(t)
	oldTree, oldPub := e.tree, e.Public
	newPub, newKey, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	newTree := keytree.New(keytree.TreeSecret(newKey))
	if e.Ingester, err = ingest.New(e.Store, appID, newKey, e.committed, ingest.WithFormat(2)); err != nil {
		t.Fatal(err)
	}
	newLast := e.ingest(t, 2)

	leaf := func(s *salts, seq uint64) []byte {
		t.Helper()
		salt, err := s.of(seq)
		if err != nil || salt == nil {
			t.Fatalf("salt of reading %d: %v, %v", seq, salt, err)
		}
		return reading.SaltedLeafHash(*salt, mustReading(t, e, seq))
	}
	// The current key alone mislabels the old readings.
	if bytes.Equal(leaf(&salts{st: e.Store, keys: newTree}, 1), signedLeaf(t, e, 1, oldTree, oldPub)) {
		t.Fatal("the new key's salt gives the old key's leaf: the test proves nothing")
	}
	signer := func(b *store.BlockRecord) (reading.PollKeys, error) {
		if format.VerifyHeaderSig(oldPub, b.Header, b.HeaderSig) == nil {
			return oldTree, nil
		}
		return nil, fmt.Errorf("block %d: signed by an unknown key", b.Height)
	}
	s := &salts{st: e.Store, keys: newTree, signerKeys: signer}
	for seq := uint64(1); seq <= newLast; seq++ {
		tree, pub := oldTree, oldPub
		if seq > oldLast {
			tree, pub = newTree, newPub
		}
		if !bytes.Equal(leaf(s, seq), signedLeaf(t, e, seq, tree, pub)) {
			t.Fatalf("reading %d (old key's up to %d): the salt does not give the signed leaf", seq, oldLast)
		}
	}
}
