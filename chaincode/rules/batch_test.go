package rules

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/wotchain/wotchain/chaincode/format"
)

// linked returns n headers linked from prev, starting at height from.
func linked(t *testing.T, from uint64, prev []byte, n int, opts func(height uint64) hdrOpts) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range n {
		h := from + uint64(i)
		o := hdrOpts{}
		if opts != nil {
			o = opts(h)
		}
		o.height, o.prev = h, prev
		hb := header(t, o)
		out = append(out, hb)
		prev = prevOf(hb)
	}
	return out
}

func (w *world) subs(hdrs [][]byte, firstObj int) []format.Submission {
	var out []format.Submission
	for i, hb := range hdrs {
		out = append(out, w.sub(hb, firstObj+i))
	}
	return out
}

// Refused batches on a State that applies writes at once (the in-memory
// one, unlike a ledger's transaction: see rulestest for those) leave
// nothing behind either: the overlay writes only on success.
func TestRefusedBatchOnImmediateStateWritesNothing(t *testing.T) {
	w := newWorld(t)
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	hdrs := w.chain(t, 2, nil) // heights 0 and 1 recorded
	good := w.subs(linked(t, 2, prevOf(hdrs[1]), 3, nil), 2)
	bad := slices.Clone(good)
	bad[2].HeaderSig = format.SignHeader(otherPriv, bad[2].Header)

	before := w.st.snapshot()
	if _, err := RecordCredentials(w.st, anchor, bad); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("bad last block: %v", err)
	}
	if !maps.Equal(before, w.st.snapshot()) {
		t.Fatal("a refused batch left blocks 2 and 3 behind")
	}

	// After that, the proper batch is accepted.
	if out, err := RecordCredentials(w.st, anchor, good); err != nil || len(out) != 3 || !out[2].Recorded {
		t.Fatalf("good batch: %v, %v", out, err)
	}
}
