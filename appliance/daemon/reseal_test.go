package daemon

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
)

// The start after a revocation re-seals the blocks it stranded under the
// current key, before the pipeline runs: every reading is kept, every poll
// verifies under the new key, and the log names the heights and seqs.
func TestStartResealsStrandedBlocks(t *testing.T) {
	cfg := keysConfig(t)
	started(t, cfg, 3)
	n, err := OpenKeys(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, err := n.RotateKey(ctx, n.KeyAdmin(), quiet) // block 0 sealed under the old key, not anchored
	if err != nil {
		n.Close()
		t.Fatal(err)
	}
	a, err := n.KeyAdmin().RevokeApplianceKey(ctx, cfg.Appliance.ID, r.OldID, time.Now(), "test")
	n.Close()
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := a.KeyForHeight(0); !ok || k.ID != r.NewID {
		t.Fatalf("height 0 after the revocation: %+v, %v; want the new key", k, ok)
	}

	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	n, err = Open(cfg, log, false)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.resealAtStart(ctx, log); err != nil {
		t.Fatal(err)
	}
	b, err := n.Store.Block(0)
	if err != nil || b.KeyID != r.NewID || b.State != store.Sealed || b.FirstSeq != 1 || b.LastSeq != 3 {
		t.Fatalf("block 0 after the start: %+v, %v; want readings 1..3 sealed under key %s", b, err, r.NewID)
	}
	newPub := publicOf(n.Signing)
	if format.VerifyHeaderSig(newPub, b.Header, b.HeaderSig) != nil {
		t.Fatal("block 0 is not signed by the new key")
	}
	checkPollsSignedBy(t, n.Store, newPub, 1)
	for _, want := range []string{"re-sealed", `"heights":"0..0"`, `"seqs":"1..3"`, r.OldID} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the start's log does not say %q:\n%s", want, logs.String())
		}
	}

	// Started again: nothing is stranded any more, nothing changes.
	logs.Reset()
	if err := n.resealAtStart(ctx, log); err != nil {
		t.Fatal(err)
	}
	if again, _ := n.Store.Block(0); again.BlockID != b.BlockID || strings.Contains(logs.String(), "re-sealed") {
		t.Fatalf("a second start re-sealed again: %s", logs.String())
	}
}

// checkPollsSignedBy checks every stored poll from seq from verifies with pub.
func checkPollsSignedBy(t *testing.T, st *store.Store, pub ed25519.PublicKey, from uint64) {
	t.Helper()
	n := 0
	err := st.Polls(from, func(_ uint64, rec []byte) (bool, error) {
		p, err := reading.DecodePoll(rec)
		if err != nil {
			return false, err
		}
		n++
		return true, p.VerifySignature(pub)
	})
	if err != nil || n == 0 {
		t.Fatalf("%d polls, %v", n, err)
	}
}

// The current key revoked: the start re-seals nothing (no key signs the
// heights until a rotation) and says why; after rotate-key, which starts
// the new key at the cut, the next start re-seals.
func TestStartWithRevokedCurrentKey(t *testing.T) {
	cfg := keysConfig(t)
	started(t, cfg, 2)
	n, err := OpenKeys(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Seal the pending polls under the current key, then revoke it.
	r, err := n.RotateKey(ctx, n.KeyAdmin(), quiet)
	if err != nil {
		n.Close()
		t.Fatal(err)
	}
	if _, err := n.KeyAdmin().RevokeApplianceKey(ctx, cfg.Appliance.ID, r.NewID, time.Now(), "test"); err != nil {
		n.Close()
		t.Fatal(err)
	}
	n.Close()
	started(t, cfg, 2) // readings 3..4 under the revoked current key
	n, err = OpenKeys(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := n.RotateKey(ctx, n.KeyAdmin(), quiet) // seals 3..4 as block 1 under the revoked key
	n.Close()
	if err != nil {
		t.Fatal(err)
	}
	if r2.FromHeight != 1 || len(r2.Stranded) != 1 || r2.Stranded[0] != 1 {
		t.Fatalf("rotation after the revocation: from %d, stranded %v; want from the cut, height 1", r2.FromHeight, r2.Stranded)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	n, err = Open(cfg, log, false)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.resealAtStart(ctx, log); err != nil {
		t.Fatal(err)
	}
	b, err := n.Store.Block(1)
	if err != nil || b.KeyID != r2.NewID || b.FirstSeq != 3 {
		t.Fatalf("block 1 after the start: %+v, %v; want it under key %s", b, err, r2.NewID)
	}
	checkPollsSignedBy(t, n.Store, publicOf(n.Signing), 3)
}
