package daemon

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/seal"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// KeyAdmin changes an appliance's key history on the ledger: the embedded
// ledger itself, or Fabric as a manufacturer admin.
type KeyAdmin interface {
	Appliance(ctx context.Context, id string) (*rules.Appliance, error)
	RotateApplianceKey(ctx context.Context, applianceID string, pub ed25519.PublicKey, fromHeight uint64) (*rules.Appliance, error)
	RevokeApplianceKey(ctx context.Context, applianceID, keyID string, compromisedAt time.Time, reason string) (*rules.Appliance, error)
}

// Rotation is what RotateKey did.
type Rotation struct {
	OldID      string // "" when the old key file was lost
	NewID      string
	FromHeight uint64               // the first height the new key signs
	Sealed     []*store.BlockRecord // blocks sealed under the old key first
	Retired    string               // where the old key is kept ("" when lost)
	Appliance  *rules.Appliance     // the ledger's record after the rotation
	// Stranded lists the heights sealed under the old key that the new
	// key signs instead: the old key was revoked, which cut its range
	// at its first unanchored height, where the new key then starts. The
	// next start re-seals them under the new key (ResealStranded).
	Stranded []uint64
}

// OpenKeys opens a stopped appliance's node for rotate-key and revoke-key:
// like a writable Open, but the signing key may be missing (rotate-key
// replaces a lost key) and is then nil. A key file that is not the
// store's is refused all the same.
func OpenKeys(cfg *config.Config, log *slog.Logger) (*Node, error) {
	n := &Node{Cfg: cfg}
	if err := n.openOwnerKeys(false, log); err != nil {
		return nil, err
	}
	if err := n.openState(false, log); err != nil {
		return nil, err
	}
	signPath := cfg.Resolve(cfg.Appliance.SigningKey)
	err := n.finishRotation(context.Background(), signPath, log)
	if err == nil {
		n.Signing, err = keys.LoadSigning(signPath)
		if errors.Is(err, fs.ErrNotExist) {
			n.Signing, err = nil, nil
		} else if err == nil {
			err = n.checkStoreKey(signPath, n.Signing)
		}
	}
	if err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// KeyAdmin is the node's own ledger as a KeyAdmin: the embedded ledger,
// where the appliance is its own manufacturer. On Fabric it is nil: the
// manufacturer admin's connection is needed.
func (n *Node) KeyAdmin() KeyAdmin {
	if n.Cfg.Ledger.Kind == config.LedgerFabric {
		return nil
	}
	admin, _ := n.Ledger.(KeyAdmin)
	return admin
}

// RotateKey replaces the appliance's signing key on a node from OpenKeys.
// Every pending poll is sealed under the current key first, so the blocks
// below the new key's first height are all the old key's (v2 poll keys
// come from the signing key's key tree: only the old key can seal its
// polls). The new key is written beside the current one, registered
// through admin from that height, and only then installed: a crash at any
// step leaves either the old key in force or a rotation the next start
// finishes (finishRotation).
func (n *Node) RotateKey(ctx context.Context, admin KeyAdmin, log *slog.Logger) (*Rotation, error) {
	if admin == nil {
		return nil, errors.New("rotating the key on Fabric needs the manufacturer admin (--as or --admin-msp-dir)")
	}
	cfg, st := n.Cfg, n.Store
	signPath := cfg.Resolve(cfg.Appliance.SigningKey)
	r := &Rotation{}
	if n.Signing == nil {
		if err := n.checkNothingPending(signPath); err != nil {
			return nil, err
		}
	} else {
		r.OldID = format.KeyID(publicOf(n.Signing))
		sealer, err := seal.New(st, cfg.Appliance.ID, n.Signing, n.Recipients, cfg.Seal.MaxReadings)
		if err != nil {
			return nil, err
		}
		if r.Sealed, err = sealer.Seal(true); err != nil {
			return nil, fmt.Errorf("seal the pending readings under key %s: %w", r.OldID, err)
		}
	}
	if last, err := st.LastBlock(); err == nil {
		r.FromHeight = last.Height + 1
	} else if !store.IsNotFound(err) {
		return nil, err
	}
	next, err := keys.GeneratePending(signPath)
	if err != nil {
		return nil, fmt.Errorf("new signing key: %w", err)
	}
	r.NewID = format.KeyID(publicOf(next))
	if r.Appliance, err = admin.RotateApplianceKey(ctx, cfg.Appliance.ID, publicOf(next), r.FromHeight); err != nil {
		if refused(err) {
			if derr := keys.DiscardPending(signPath); derr != nil {
				log.Error("could not remove the unregistered new key", "path", keys.PendingPath(signPath), "err", derr)
			}
			return r, fmt.Errorf("the ledger refused the new key: %w", err)
		}
		return r, fmt.Errorf("register the new key %s (kept as %s; whether the ledger has it is unknown: "+
			"the next start or rotate-key asks the ledger and finishes or undoes the rotation): %w", r.NewID, keys.PendingPath(signPath), err)
	}
	if from := r.Appliance.Current().FromHeight; from < r.FromHeight {
		for h := from; h < r.FromHeight; h++ {
			r.Stranded = append(r.Stranded, h)
		}
		r.FromHeight = from
	}
	if err := installKey(st, signPath, r.NewID); err != nil {
		return r, fmt.Errorf("the ledger has the new key %s; installing it failed (the next start finishes it): %w", r.NewID, err)
	}
	if r.OldID != "" {
		r.Retired = keys.RetiredPath(signPath, r.OldID)
	}
	n.Signing = next
	return r, nil
}

// refused reports a ledger answer that certainly recorded nothing (the
// contract refused), as opposed to a failure that leaves it unknown.
func refused(err error) bool {
	for _, e := range []error{rules.ErrForbidden, rules.ErrConflict, rules.ErrInvalid, rules.ErrUnknownAppliance, rules.ErrNotFound} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// checkNothingPending refuses to replace a lost key while readings it
// signed wait to be sealed: only that key can seal them.
func (n *Node) checkNothingPending(signPath string) error {
	next, err := n.Store.NextSeq()
	if err != nil {
		return err
	}
	sealed := uint64(0)
	if last, err := n.Store.LastBlock(); err == nil {
		sealed = last.LastSeq
	} else if !store.IsNotFound(err) {
		return err
	}
	if next-1 > sealed {
		return fmt.Errorf("signing key %s is missing and readings %d..%d, signed by it, are not sealed yet: only that key can seal them; "+
			"restore it from backup and run rotate-key again", signPath, sealed+1, next-1)
	}
	return nil
}

// UnanchoredBlocks lists the heights in st's outbox that key signs by the
// ledger's record a: the blocks its revocation strands (ResealStranded
// re-seals them under the current key, unless the disk budget dropped
// their readings).
func UnanchoredBlocks(st *store.Store, a *rules.Appliance, keyID string) ([]uint64, error) {
	pending, err := st.Outbox()
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, h := range pending {
		if k, ok := a.KeyForHeight(h); ok && k.ID == keyID {
			out = append(out, h)
		}
	}
	return out, nil
}
