package daemon

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/wotchain/wotchain/bridge/reseal"
	"github.com/wotchain/wotchain/bridge/seal"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// Resealed is what ResealStranded did.
type Resealed struct {
	Plan  reseal.Plan
	Polls int                  // polls signed again
	Last  uint64               // the last reading re-sealed
	New   []*store.BlockRecord // the blocks sealed again, from Plan.From on
}

// ResealStranded re-seals, under the node's signing key, the blocks a key
// revocation stranded in the outbox (bridge/reseal): a ledger whose record
// a gives their heights to the current key no longer accepts them under
// the key that sealed them. Nothing is lost: the readings stay, their
// polls are signed again and sealed at the same heights. It runs on a
// writable node before anything else uses the store (at start-up, before
// the pipeline; in revoke-key, with the appliance stopped). It returns nil
// when nothing is stranded, or when re-sealing cannot help (no key for
// the heights until a rotation, ...): that is logged as an error and the
// appliance runs on, its readings stored.
//
// Order, for a kill -9 at each step: the ledger has already cut the
// revoked key (it decides which heights are stranded, so the store never
// drops a block the ledger would still take). Killed before Apply's
// batch: the store is as it was and the next start decides the same
// re-seal. Killed after it: the blocks are gone and every poll is signed
// under the current key, so the next start finds nothing stranded and its
// sealer seals the polls; killed while sealing, each block is committed
// on its own and the sealer continues after the last one.
func (n *Node) ResealStranded(a *rules.Appliance, log *slog.Logger) (*Resealed, error) {
	pending, err := reseal.Pending(n.Store)
	if err != nil {
		return nil, err
	}
	current := format.KeyID(publicOf(n.Signing))
	plan, err := reseal.Decide(pending, a, current)
	if err != nil {
		msg := "blocks in the outbox cannot be anchored, and re-sealing them under the current key would not help"
		if errors.Is(err, reseal.ErrNoKey) {
			msg = "the appliance's current key was revoked: no block from the revocation on can be anchored until `wotchain rotate-key` registers a new key; the next start then re-seals them under it (nothing is lost)"
		}
		log.Error(msg, "err", err, "outbox", len(pending))
		return nil, nil
	}
	if plan.Empty() {
		return nil, nil
	}
	r := &Resealed{Plan: plan}
	if r.Polls, err = reseal.Apply(n.Store, plan, n.Cfg.Appliance.ID, n.Signing); err != nil {
		return nil, err
	}
	if next, err := n.Store.NextSeq(); err == nil {
		r.Last = next - 1
	}
	sealer, err := seal.New(n.Store, n.Cfg.Appliance.ID, n.Signing, n.Recipients, n.Cfg.Seal.MaxReadings)
	if err != nil {
		return r, err
	}
	if r.New, err = sealer.Seal(true); err != nil {
		return r, fmt.Errorf("seal the re-signed readings %d..%d under key %s (the next start seals them): %w", plan.FirstSeq, r.Last, current, err)
	}
	log.Warn("re-sealed the blocks a key revocation stranded in the outbox under the current key: their readings are kept and anchored under it",
		"heights", fmt.Sprintf("%d..%d", plan.From, plan.To), "seqs", fmt.Sprintf("%d..%d", plan.FirstSeq, r.Last),
		"polls", r.Polls, "revoked_keys", plan.Revoked, "key_id", current, "new_blocks", len(r.New))
	return r, nil
}
