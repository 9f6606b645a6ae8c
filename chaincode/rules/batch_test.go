package rules

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/wotchain/wotchain/chaincode/format"
)

// Refused batches on a State that applies writes at once (the in-memory
// one, unlike a ledger's transaction: rulestest runs the batch cases on
// those) leave nothing behind either: the overlay writes only on success.
func TestRefusedBatchOnImmediateStateWritesNothing(t *testing.T) {
	st, headers := fuzzWorld() // heights 0 and 1 recorded
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	prev, _ := hex.DecodeString(format.BlockID(headers[1]))
	good := fuzzSubs(fuzzKey(), 2, prev, 3) // heights 2, 3, 4
	bad := slices.Clone(good)
	bad[2].HeaderSig = format.SignHeader(otherPriv, bad[2].Header)

	before := st.snapshot()
	if _, err := RecordCredentials(st, anchor, bad, fuzzNow); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("bad last block: %v", err)
	}
	if !maps.Equal(before, st.snapshot()) {
		t.Fatal("a refused batch left blocks 2 and 3 behind")
	}

	// After that, the proper batch is accepted.
	if out, err := RecordCredentials(st, anchor, good, fuzzNow); err != nil || len(out) != 3 || !out[2].Recorded {
		t.Fatalf("good batch: %v, %v", out, err)
	}
}
