package reseal_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/outbox"
	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/bridge/reseal"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/bridge/verify"
	"github.com/wotchain/wotchain/chaincode/format"
)

// strand builds a chain whose old key is revoked with blocks of it still in
// the outbox: blocks anchored, a backlog sealed under the old key by the
// rotation, blocks sealed under the new key after it, none of them
// anchored, then the old key revoked (the ledger cuts it at the first
// unanchored height). It returns the chain and that height.
func strand(t *testing.T, f int) (*pipelinetest.Chain, uint64) {
	t.Helper()
	c := pipelinetest.New(t, pipelinetest.WithFormat(f), pipelinetest.WithRecipient(keys.KEMX25519))
	c.Anchor(t, 3, 2, 4)
	cut, err := c.Store.LastBlock()
	if err != nil {
		t.Fatal(err)
	}
	oldKey := format.KeyID(c.Public)
	c.Ingest(t, 4, 3)
	c.RotateKey(t) // seals 4, 3 under the old key
	c.Ingest(t, 2, 5)
	c.Seal(t)
	ctx := context.Background()
	app, err := c.Ledger.RevokeApplianceKey(ctx, c.ApplianceID, oldKey, time.Now(), "test")
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := app.Key(oldKey); !k.Cut || k.ToHeight != cut.Height+1 {
		t.Fatalf("old key after its revocation: %+v, want it cut at %d", k, cut.Height+1)
	}
	return c, cut.Height + 1
}

// restart makes the sealer and the outbox again, as the appliance does
// after a re-seal: the outbox takes heights to only move forward.
func restart(t *testing.T, c *pipelinetest.Chain) {
	t.Helper()
	c.Sealer = c.NewSealer(t, pipelinetest.DefaultMaxReadings)
	c.Outbox = outbox.New(c.Store, c.Storage, c.Ledger, slog.New(slog.DiscardHandler))
}

// decide is the plan for c's store and ledger now.
func decide(t *testing.T, c *pipelinetest.Chain) reseal.Plan {
	t.Helper()
	pending, err := reseal.Pending(c.Store)
	if err != nil {
		t.Fatal(err)
	}
	app, err := c.Ledger.Appliance(context.Background(), c.ApplianceID)
	if err != nil {
		t.Fatal(err)
	}
	p, err := reseal.Decide(pending, app, format.KeyID(c.Public))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Blocks stranded by the revocation are re-sealed under the new key: every
// reading is anchored and verifies, the re-sealed heights under the new
// key, the earlier ones under the old key, anchored before its compromise.
func TestStrandedBlocksResealed(t *testing.T) {
	for _, f := range []int{1, 2} {
		t.Run(fmt.Sprintf("v%d", f), func(t *testing.T) {
			c, cut := strand(t, f)
			last, _ := c.Store.LastBlock()
			plan := decide(t, c)
			if plan.From != cut || plan.To != last.Height || len(plan.Revoked) != 1 {
				t.Fatalf("plan %+v, want heights %d..%d", plan, cut, last.Height)
			}
			// Without the re-seal, the outbox is stuck at the cut.
			c.Step(t)
			if b, _ := c.Store.Block(cut); b.State == store.Anchored {
				t.Fatal("a stranded block was anchored")
			}
			n, err := reseal.Apply(c.Store, plan, c.ApplianceID, c.Key)
			if err != nil || n == 0 {
				t.Fatalf("apply: %d polls, %v", n, err)
			}
			// A kill -9 here: the restart finds nothing stranded, seals
			// the re-signed polls and anchors them.
			if p := decide(t, c); !p.Empty() {
				t.Fatalf("after the re-seal, still stranded: %+v", p)
			}
			restart(t, c)
			resealed := c.Seal(t)
			if len(resealed) == 0 || resealed[0].Height != cut {
				t.Fatalf("re-sealed blocks from %v, want from %d", resealed, cut)
			}
			c.Drain(t)
			checkAllVerify(t, c, cut)
		})
	}
}

// checkAllVerify checks every reading through the verifier and every block
// of cut and above names the current key, the anchored credentials too.
func checkAllVerify(t *testing.T, c *pipelinetest.Chain, cut uint64) {
	t.Helper()
	ctx := context.Background()
	cur := format.KeyID(c.Public)
	err := c.Store.Blocks(0, func(b *store.BlockRecord) (bool, error) {
		if b.State != store.Anchored {
			return false, fmt.Errorf("block %d is %s", b.Height, b.State)
		}
		cred, err := c.Ledger.Credential(ctx, b.BlockID)
		if err != nil {
			return false, err
		}
		if b.Height >= cut && (b.KeyID != cur || cred.KeyID != cur) {
			return false, fmt.Errorf("re-sealed block %d: key %s, credential key %s; want %s", b.Height, b.KeyID, cred.KeyID, cur)
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	v := &verify.Verifier{Store: c.Store, Ledger: c.Ledger, Storage: c.Storage, Key: c.Owner}
	if len(c.Readings) == 0 || c.Readings[len(c.Readings)-1].Seq != c.LastSeq() {
		t.Fatal("fixture lost track of its readings")
	}
	for _, r := range c.Readings {
		rep := v.Reading(ctx, r.Seq)
		if !rep.OK() {
			t.Fatalf("reading %d after the re-seal: %+v", r.Seq, rep.Checks)
		}
		raw, err := c.Store.Reading(r.Seq)
		if err != nil || len(raw) == 0 {
			t.Fatalf("reading %d: %v", r.Seq, err)
		}
	}
}

// The revoked key is the current one: nothing is re-sealed until a new key
// is registered; then the blocks from the cut are re-sealed under it.
func TestStrandedByCurrentKeyWaitForRotation(t *testing.T) {
	c := pipelinetest.New(t, pipelinetest.WithFormat(2))
	c.Anchor(t, 3, 2, 4)
	cut, _ := c.Store.LastBlock()
	c.Ingest(t, 4, 3)
	c.Seal(t)
	ctx := context.Background()
	if _, err := c.Ledger.RevokeApplianceKey(ctx, c.ApplianceID, format.KeyID(c.Public), time.Now(), "test"); err != nil {
		t.Fatal(err)
	}
	pending, _ := reseal.Pending(c.Store)
	app, _ := c.Ledger.Appliance(ctx, c.ApplianceID)
	if p, err := reseal.Decide(pending, app, format.KeyID(c.Public)); err == nil || !p.Empty() {
		t.Fatalf("before the rotation: %+v, %v; want ErrNoKey", p, err)
	}
	c.RotateKey(t) // the new key starts at the cut, not at the next height
	plan := decide(t, c)
	if plan.From != cut.Height+1 {
		t.Fatalf("plan %+v, want from %d", plan, cut.Height+1)
	}
	if _, err := reseal.Apply(c.Store, plan, c.ApplianceID, c.Key); err != nil {
		t.Fatal(err)
	}
	restart(t, c)
	c.Seal(t)
	c.Drain(t)
	checkAllVerify(t, c, cut.Height+1)
}
