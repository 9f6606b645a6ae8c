package daemon

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// The signing key is the appliance's identity: every block it sealed names
// it, and the ledger accepts a block only under the key registered for its
// height. A writable start therefore refuses a key that is missing or not
// the store's, rather than generating or taking a new one and orphaning
// what the store holds (issue #14).

// loadSigning is the signing key of a writable node, after the start-up
// checks: an interrupted rotation finished or undone, the key file present
// unless the store is new (then it is generated), and the key the one the
// store (and the embedded ledger) knows.
func (n *Node) loadSigning(ctx context.Context, log *slog.Logger) (ed25519.PrivateKey, error) {
	signPath := n.Cfg.Resolve(n.Cfg.Appliance.SigningKey)
	if err := n.finishRotation(ctx, signPath, log); err != nil {
		return nil, err
	}
	priv, err := keys.LoadSigning(signPath)
	if errors.Is(err, fs.ErrNotExist) {
		held, herr := n.Store.HoldsData()
		if herr != nil {
			return nil, herr
		}
		if held {
			return nil, n.missingKeyError(signPath)
		}
		if priv, err = keys.GenerateSigning(signPath); err != nil {
			return nil, fmt.Errorf("signing key: %w", err)
		}
		log.Info("generated appliance signing key", "path", signPath, "key_id", format.KeyID(publicOf(priv)))
	} else if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if err := n.checkStoreKey(signPath, priv); err != nil {
		return nil, err
	}
	if err := n.checkEmbeddedKey(ctx, signPath, priv); err != nil {
		return nil, err
	}
	retired, err := keys.LoadRetired(signPath)
	if err != nil {
		return nil, err
	}
	for _, k := range retired {
		n.Retired = append(n.Retired, k)
	}
	return priv, nil
}

func publicOf(priv ed25519.PrivateKey) ed25519.PublicKey { return priv.Public().(ed25519.PublicKey) }

// rotateHint is how the refusals point to the remedy.
func rotateHint(cfg *config.Config) string {
	return fmt.Sprintf("`wotchain rotate-key --config %s`", cfg.Path)
}

// missingKeyError explains a missing key file beside a store with data.
func (n *Node) missingKeyError(signPath string) error {
	id, err := n.Store.SigningKeyID()
	if err != nil {
		return err
	}
	blocks := uint64(0)
	if last, err := n.Store.LastBlock(); err == nil {
		blocks = last.Height + 1
		if id == "" {
			id = last.KeyID
		}
	}
	if id == "" {
		id = "(not recorded)"
	}
	return fmt.Errorf("signing key %s is missing, but data dir %s holds %d blocks and their readings, signed by key %s: "+
		"restore the key file from backup (it is this appliance's identity), or replace it with %s",
		signPath, n.Cfg.Resolve(n.Cfg.Appliance.DataDir), blocks, id, rotateHint(n.Cfg))
}

// foreignKeyError refuses a key file that is not the appliance's key.
func (n *Node) foreignKeyError(signPath, fileID, want, why string) error {
	return fmt.Errorf("signing key %s is key %s, but %s key %s: restore %s's key %s from backup "+
		"(keys/retired/ holds keys replaced by rotate-key), or, if key %s is lost, move the file away and replace the key with %s",
		signPath, fileID, why, want, n.Cfg.Resolve(n.Cfg.Appliance.DataDir), want, want, rotateHint(n.Cfg))
}

// checkStoreKey compares the key with the one the store recorded, and
// records it on the first start (or the first start of a store from
// before key ids were recorded, once its last block verifies with it).
func (n *Node) checkStoreKey(signPath string, priv ed25519.PrivateKey) error {
	pub := publicOf(priv)
	id := format.KeyID(pub)
	stored, err := n.Store.SigningKeyID()
	if err != nil {
		return err
	}
	if stored != "" {
		if stored != id {
			return n.foreignKeyError(signPath, id, stored, "the store was signing with")
		}
		return nil
	}
	last, err := n.Store.LastBlock()
	if err != nil && !store.IsNotFound(err) {
		return err
	}
	if err == nil {
		if last.KeyID != "" && last.KeyID != id {
			return n.foreignKeyError(signPath, id, last.KeyID, fmt.Sprintf("the last block (height %d) was signed by", last.Height))
		}
		if format.VerifyHeaderSig(pub, last.Header, last.HeaderSig) != nil {
			return fmt.Errorf("signing key %s (key %s) did not sign the store's last block (height %d): "+
				"restore the appliance's key from backup, or replace it with %s", signPath, id, last.Height, rotateHint(n.Cfg))
		}
	}
	return n.Store.SetSigningKeyID(id)
}

// checkEmbeddedKey refuses a key the embedded ledger does not have as the
// appliance's current key. (On Fabric, ensureRegistered reports it: the
// appliance may start before a manufacturer admin has registered it.)
func (n *Node) checkEmbeddedKey(ctx context.Context, signPath string, priv ed25519.PrivateKey) error {
	if n.Cfg.Ledger.Kind == config.LedgerFabric {
		return nil
	}
	a, err := n.Ledger.Appliance(ctx, n.Cfg.Appliance.ID)
	if errors.Is(err, rules.ErrUnknownAppliance) {
		return nil // registered by ensureRegistered
	}
	if err != nil {
		return err
	}
	if pub := publicOf(priv); !pub.Equal(ed25519.PublicKey(a.PublicKey)) {
		return n.foreignKeyError(signPath, format.KeyID(pub), format.KeyID(a.PublicKey), "the embedded ledger registered appliance "+a.ID+" with")
	}
	return nil
}

// finishRotation completes or undoes a rotation that stopped between
// writing the new key and installing it: the ledger decides. If it has the
// pending key as the appliance's current key, the rotation happened and is
// finished here; if not, the pending key was never registered (nothing was
// signed with it) and is removed.
func (n *Node) finishRotation(ctx context.Context, signPath string, log *slog.Logger) error {
	pendPath := keys.PendingPath(signPath)
	pending, err := keys.LoadSigning(pendPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("key of an interrupted rotation: %w", err)
	}
	a, err := n.Ledger.Appliance(ctx, n.Cfg.Appliance.ID)
	if err != nil && !errors.Is(err, rules.ErrUnknownAppliance) {
		return fmt.Errorf("an interrupted key rotation left %s, and the ledger could not be asked whether it registered that key "+
			"(start again once the ledger is reachable): %w", pendPath, err)
	}
	newID := format.KeyID(publicOf(pending))
	if err != nil || !publicOf(pending).Equal(ed25519.PublicKey(a.PublicKey)) {
		if err := keys.DiscardPending(signPath); err != nil {
			return err
		}
		log.Warn("removed the new key of an interrupted rotation: the ledger never registered it", "path", pendPath, "key_id", newID)
		return nil
	}
	if err := installKey(n.Store, signPath, newID); err != nil {
		return fmt.Errorf("finish the interrupted key rotation to %s: %w", newID, err)
	}
	log.Info("finished an interrupted key rotation: the ledger has the new key", "path", signPath, "key_id", newID)
	return nil
}

// installKey makes the pending key (newID, registered on the ledger) the
// signing key: the store records its id, the current key file is kept
// under keys/retired/, and the pending file takes its place. Each step can
// be repeated after a crash.
func installKey(st *store.Store, signPath, newID string) error {
	if err := st.SetSigningKeyID(newID); err != nil {
		return err
	}
	cur, err := keys.LoadSigning(signPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// The old key was lost (rotate-key replaces a missing key).
	case err != nil:
		return err
	default:
		if oldID := format.KeyID(publicOf(cur)); oldID != newID {
			if err := keys.Retire(signPath, oldID); err != nil {
				return err
			}
		}
	}
	return keys.Promote(signPath)
}

// HoldsData reports whether the appliance's store holds readings or
// blocks; it opens the store read-only, so the appliance may be running.
// Without a store it is false: a first start.
func HoldsData(cfg *config.Config) (bool, error) {
	if _, err := os.Stat(StoreDir(cfg)); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	st, err := store.OpenReadOnly(StoreDir(cfg))
	if err != nil {
		return false, err
	}
	defer st.Close()
	return st.HoldsData()
}
