package outbox_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/outbox"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// keyLedger records the key id of each submission.
type keyLedger struct {
	outbox.Ledger
	keyIDs []string
}

func (l *keyLedger) Anchor(ctx context.Context, sub format.Submission) (*format.Credential, bool, error) {
	l.keyIDs = append(l.keyIDs, sub.KeyID)
	return l.Ledger.Anchor(ctx, sub)
}

// The outbox submits the key id each block records, and the credential
// names it. Once the key is revoked, anchoring its next block is refused
// as permanent, with an error that says the block will never be anchored.
func TestSubmitsKeyIDAndRevokedKeyRefused(t *testing.T) {
	f := newFixture(t, true)
	f.sealBlocks(t, 2)
	keyID := format.KeyID(f.Public)
	led := &keyLedger{Ledger: f.Ledger}
	o := outbox.New(f.Store, &flakyStorage{fs: f.Storage}, led, discard)
	o.MaxBatch = 1
	step(t, o) // upload 0
	step(t, o) // anchor 0
	if len(led.keyIDs) != 1 || led.keyIDs[0] != keyID {
		t.Fatalf("submitted key ids %q, want [%s]", led.keyIDs, keyID)
	}
	if e := o.LastAnchorError(); e != "" {
		t.Fatalf("last anchoring error after a success: %q", e)
	}
	rec, _ := f.Store.Block(0)
	if c, err := f.Ledger.Credential(context.Background(), rec.BlockID); err != nil || c.KeyID != keyID {
		t.Fatalf("credential key id: %+v, %v", c, err)
	}

	if _, err := f.Ledger.RevokeApplianceKey(context.Background(), f.ApplianceID, keyID, time.Now(), "test"); err != nil {
		t.Fatal(err)
	}
	step(t, o) // upload 1
	_, err := o.Step(context.Background())
	if !errors.Is(err, rules.ErrKeyRevoked) || !outbox.IsPermanent(err) || !strings.Contains(err.Error(), "never anchored") {
		t.Fatalf("anchoring with the revoked key: %v (permanent=%v)", err, outbox.IsPermanent(err))
	}
	if s := f.state(t, 1); s != store.Uploaded {
		t.Fatalf("refused block is %s", s)
	}
	if e := o.LastAnchorError(); !strings.Contains(e, "signing key revoked") {
		t.Fatalf("last anchoring error %q", e)
	}
}

// A block record from before key ids were recorded submits none; the
// contract takes the key of its height.
func TestOldRecordSubmitsNoKeyID(t *testing.T) {
	f := newFixture(t, true)
	f.sealBlocks(t, 1)
	rec, _ := f.Store.Block(0)
	rec.KeyID = ""
	if err := f.Store.UpdateBlock(rec); err != nil {
		t.Fatal(err)
	}
	led := &keyLedger{Ledger: f.Ledger}
	o := outbox.New(f.Store, &flakyStorage{fs: f.Storage}, led, discard)
	step(t, o)
	step(t, o)
	if len(led.keyIDs) != 1 || led.keyIDs[0] != "" {
		t.Fatalf("submitted key ids %q, want one empty", led.keyIDs)
	}
	c, err := f.Ledger.Credential(context.Background(), rec.BlockID)
	if err != nil || c.KeyID != format.KeyID(ed25519.PublicKey(f.Public)) {
		t.Fatalf("credential of an old record: %+v, %v", c, err)
	}
}
