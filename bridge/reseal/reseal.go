// Package reseal re-seals the blocks a key revocation stranded
// (KEYS-SPEC section 4). Blocks sealed under a key and still in the outbox
// when that key is revoked can never be anchored, and since every block
// needs its predecessor on the ledger, the appliance's whole chain would
// stop. The contract cuts the revoked key's range at the first height the
// appliance had not anchored and gives the heights from there to the key
// after it; the appliance then drops those blocks, signs their polls again
// under its current key and seals them again at the same heights. The
// readings are never touched: only their polls' signatures (and, in v2,
// salts and poll roots).
//
// Decide is pure (store records and the ledger's record in, a Plan out);
// Apply does the store's part in one synced batch.
package reseal

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/wotchain/wotchain/bridge/keytree"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// ErrNoKey means the ledger has no key for a pending block's height: the
// current key was revoked and no rotation has registered the next one.
var ErrNoKey = errors.New("no key on the ledger for the block's height")

// Plan is a re-seal: the blocks from height From to To are dropped and
// sealed again under the current key, after the polls of every reading
// from FirstSeq on are signed again under it.
type Plan struct {
	From, To uint64
	FirstSeq uint64
	// Revoked lists the keys that signed the stranded blocks, as the
	// ledger names them, for the log.
	Revoked []string
}

// Empty reports whether there is nothing to re-seal.
func (p Plan) Empty() bool { return p.FirstSeq == 0 }

// Decide finds the blocks to re-seal. pending is the store's blocks not
// yet anchored, in height order (the outbox); app is the ledger's record of
// the appliance and currentID the id of the appliance's current key. A
// block is stranded when the ledger's key for its height is not the key
// that signed it but the appliance's current key (a revocation cut the
// signing key's range below it); it and every later block (each names its
// predecessor, which changes) are re-sealed. A block whose height the
// ledger gives no key (ErrNoKey), or to a key that is neither its signer
// nor the current one, is reported and nothing is re-sealed: re-sealing
// under the current key would not make it anchorable.
func Decide(pending []*store.BlockRecord, app *rules.Appliance, currentID string) (Plan, error) {
	for i, b := range pending {
		k, ok := app.KeyForHeight(b.Height)
		if !ok {
			return Plan{}, fmt.Errorf("%w: appliance %s block %d: its current key was revoked and no new key is registered; rotate the key (wotchain rotate-key), then the blocks from there are re-sealed under the new one",
				ErrNoKey, app.ID, b.Height)
		}
		signer := signerOf(b, k)
		if signer == k.ID {
			continue
		}
		if k.ID != currentID {
			return Plan{}, fmt.Errorf("appliance %s block %d is signed by key %s, but the ledger gives its height to key %s, which is not this appliance's current key %s",
				app.ID, b.Height, signer, k.ID, currentID)
		}
		return planFrom(pending[i:], app)
	}
	return Plan{}, nil
}

// planFrom is the re-seal of blocks, the first stranded and every later
// one, which must follow each other and still hold their readings.
func planFrom(blocks []*store.BlockRecord, app *rules.Appliance) (Plan, error) {
	p := Plan{From: blocks[0].Height, FirstSeq: blocks[0].FirstSeq}
	seen := map[string]bool{}
	for i, b := range blocks {
		if b.Height != p.From+uint64(i) {
			return Plan{}, fmt.Errorf("appliance %s: pending blocks jump from %d to %d", app.ID, p.From+uint64(i)-1, b.Height)
		}
		if b.Dropped {
			return Plan{}, fmt.Errorf("appliance %s block %d, to be re-sealed, was dropped by the disk budget: its readings are gone, so it cannot be sealed again", app.ID, b.Height)
		}
		if k, ok := app.KeyForHeight(b.Height); ok && b.KeyID != k.ID && b.KeyID != "" && !seen[b.KeyID] {
			seen[b.KeyID] = true
			p.Revoked = append(p.Revoked, b.KeyID)
		}
		p.To = b.Height
	}
	return p, nil
}

// signerOf is the id of the key that signed b: the one its record names,
// or, for a record sealed before key ids were recorded, k's when the
// header verifies with it.
func signerOf(b *store.BlockRecord, k rules.ApplianceKey) string {
	if b.KeyID != "" {
		return b.KeyID
	}
	if format.VerifyHeaderSig(k.PublicKey, b.Header, b.HeaderSig) == nil {
		return k.ID
	}
	return "(unknown)"
}

// Apply does plan's part in the store: it signs every poll from
// plan.FirstSeq on again under key (the appliance's current signing key)
// and has the store drop the blocks from plan.From on and take the new
// poll records in one synced batch (store.Reseal, whose comment says why
// a kill -9 at any point is safe). It returns the number of polls signed
// again. The caller holds the store alone and seals afterwards (the
// sealer continues from height plan.From-1).
//
// The polls are signed in memory before the one batch: a backlog of n
// polls costs a few hundred bytes each.
func Apply(st *store.Store, plan Plan, applianceID string, key ed25519.PrivateKey) (int, error) {
	if plan.Empty() {
		return 0, nil
	}
	tree := keytree.New(keytree.TreeSecret(key))
	var polls []store.ResignedPoll
	err := st.Polls(plan.FirstSeq, func(first uint64, rec []byte) (bool, error) {
		p, err := reading.DecodePoll(rec)
		if err != nil {
			return false, fmt.Errorf("poll at seq %d: %w", first, err)
		}
		if p.ApplianceID != applianceID || p.FirstSeq != first {
			return false, fmt.Errorf("poll at seq %d: a poll of %s from seq %d", first, p.ApplianceID, p.FirstSeq)
		}
		raw, err := st.Readings(p.FirstSeq, p.LastSeq)
		if err != nil {
			return false, fmt.Errorf("poll at seq %d: %w", first, err)
		}
		if err := p.Resign(key, raw, tree); err != nil {
			return false, fmt.Errorf("poll at seq %d: %w", first, err)
		}
		out, err := reading.EncodePoll(p)
		if err != nil {
			return false, err
		}
		polls = append(polls, store.ResignedPoll{FirstSeq: first, Record: out})
		return true, nil
	})
	if err != nil {
		return 0, fmt.Errorf("re-seal from block %d: %w", plan.From, err)
	}
	if err := st.Reseal(plan.From, polls); err != nil {
		return 0, fmt.Errorf("re-seal from block %d: %w", plan.From, err)
	}
	return len(polls), nil
}

// Pending returns the store's blocks not yet anchored, in height order:
// what Decide takes.
func Pending(st *store.Store) ([]*store.BlockRecord, error) {
	heights, err := st.Outbox()
	if err != nil {
		return nil, err
	}
	out := make([]*store.BlockRecord, 0, len(heights))
	for _, h := range heights {
		b, err := st.Block(h)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
