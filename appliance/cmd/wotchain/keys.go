package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/appliance/daemon"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/fabric/fabricledger"
)

// keyAdmin opens what rotate-key and revoke-key change the key history
// through: the appliance's own node (the embedded ledger lives in its
// store, so the appliance must be stopped), and on Fabric a connection as
// the manufacturer admin, checked to be an admin before anything changes.
func keyAdmin(cfg *config.Config, as, adminMSPDir string, log *slog.Logger) (*daemon.Node, daemon.KeyAdmin, func(), error) {
	if cfg.Ledger.Kind != config.LedgerFabric {
		n, err := daemon.OpenKeys(cfg, log)
		if err != nil {
			return nil, nil, nil, err
		}
		return n, n.KeyAdmin(), n.Close, nil
	}
	l, err := connectManufacturerAdmin(cfg, as, adminMSPDir, log)
	if err != nil {
		return nil, nil, nil, err
	}
	n, err := daemon.OpenKeys(cfg, log)
	if err != nil {
		l.Close()
		return nil, nil, nil, err
	}
	return n, l, func() { l.Close(); n.Close() }, nil
}

// connectManufacturerAdmin connects to Fabric as the manufacturer admin:
// the network description's user as, or the MSP directory adminMSPDir.
func connectManufacturerAdmin(cfg *config.Config, as, adminMSPDir string, log *slog.Logger) (*fabricledger.Ledger, error) {
	if adminMSPDir == "" && cfg.Ledger.Fabric.NetworkDir == "" {
		return nil, fmt.Errorf("%w: this needs the manufacturer admin: give --admin-msp-dir DIR (or --as USER with ledger.fabric.network_dir)", errUsage)
	}
	fc, err := daemon.FabricConfig(cfg, cfg.Ledger.Fabric.User, log)
	if err != nil {
		return nil, err
	}
	if adminMSPDir != "" {
		fc.CertFile, fc.KeyFile, fc.MSPDir = "", "", adminMSPDir
	} else if fc, err = daemon.FabricConfig(cfg, as, log); err != nil {
		return nil, fmt.Errorf("manufacturer admin: %w", err)
	}
	l, err := fabricledger.Connect(fc)
	if err != nil {
		return nil, fmt.Errorf("manufacturer admin: %w", err)
	}
	if !l.Identity().Admin {
		l.Close()
		return nil, fmt.Errorf("%s is not an admin: the key history is changed by the manufacturer admin (--as or --admin-msp-dir)", l.Identity())
	}
	return l, nil
}

// cmdRotateKey replaces the appliance's signing key: pending readings are
// sealed under the old key, the new key is registered on the ledger from
// the next height, and the old key is kept under keys/retired/.
func cmdRotateKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("rotate-key")
	path := fs.String("config", "", "appliance configuration file (the appliance must be stopped)")
	as := fs.String("as", "Admin", "on Fabric: the manufacturer admin user from the network description")
	adminMSPDir := fs.String("admin-msp-dir", "", "on Fabric: the manufacturer admin's MSP directory (instead of --as)")
	cfg, err := parseConfig(fs, args, path)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		return err
	}
	n, admin, closeAll, err := keyAdmin(cfg, *as, *adminMSPDir, log)
	if err != nil {
		return err
	}
	defer closeAll()
	r, err := n.RotateKey(ctx, admin, log)
	if r != nil && len(r.Sealed) > 0 {
		fmt.Fprintf(stdout, "sealed %d pending blocks under key %s (heights %d..%d)\n", len(r.Sealed), r.OldID,
			r.Sealed[0].Height, r.Sealed[len(r.Sealed)-1].Height)
	}
	if err != nil {
		return err
	}
	old := r.OldID
	if old == "" {
		old = "(lost)"
	}
	fmt.Fprintf(stdout, "appliance %s: key %s replaced by key %s from height %d\n", cfg.Appliance.ID, old, r.NewID, r.FromHeight)
	if r.Retired != "" {
		fmt.Fprintf(stdout, "old key kept as %s (never delete it)\n", r.Retired)
	}
	fmt.Fprintf(stdout, "new key %s in %s; start the appliance: blocks from height %d are signed by it\n",
		r.NewID, cfg.Resolve(cfg.Appliance.SigningKey), r.FromHeight)
	return nil
}

// cmdRevokeKey records that a key of the appliance was compromised: the
// ledger refuses blocks signed by it and anchored from the compromise time.
// It refuses, without --force, to revoke a key that would strand blocks:
// the current key, or one that signed blocks still in the outbox.
func cmdRevokeKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("revoke-key")
	path := fs.String("config", "", "appliance configuration file")
	keyID := fs.String("key-id", "", "the key to revoke (as rotate-key and provenance print it)")
	at := fs.String("compromised-at", "", "the earliest time the key may have been copied (RFC 3339)")
	reason := fs.String("reason", "", "why (default: compromised)")
	force := fs.Bool("force", false, "revoke even the current key, or a key whose blocks are not all anchored (they never will be)")
	as := fs.String("as", "Admin", "on Fabric: the manufacturer admin user from the network description")
	adminMSPDir := fs.String("admin-msp-dir", "", "on Fabric: the manufacturer admin's MSP directory (instead of --as)")
	cfg, err := parseConfig(fs, args, path)
	if err != nil {
		return err
	}
	if *keyID == "" || *at == "" {
		return fmt.Errorf("%w: --key-id and --compromised-at are required", errUsage)
	}
	if err := format.CheckKeyID(*keyID); err != nil {
		return fmt.Errorf("%w: --key-id: %v", errUsage, err)
	}
	compromised, err := parseTime("compromised-at", *at)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		return err
	}
	admin, st, closeAll, err := revokeAdmin(cfg, *as, *adminMSPDir, log)
	if err != nil {
		return err
	}
	defer closeAll()
	if !*force {
		if err := checkRevocable(ctx, cfg, admin, st, *keyID); err != nil {
			return err
		}
	}
	a, err := admin.RevokeApplianceKey(ctx, cfg.Appliance.ID, *keyID, time.Unix(0, compromised), *reason)
	if err != nil {
		return err
	}
	k, ok := a.Key(*keyID)
	if !ok {
		return fmt.Errorf("the ledger revoked key %s but its record of appliance %s does not list it", *keyID, a.ID)
	}
	fmt.Fprintf(stdout, "appliance %s: key %s revoked; blocks signed by it and anchored from %s on are refused\n%s",
		a.ID, k.ID, rfc3339(k.CompromisedAt), keyEntry(k))
	return nil
}

// revokeAdmin is what revoke-key changes the history through, and the
// appliance's store when it is here to check: on the embedded ledger the
// stopped appliance's node; on Fabric the manufacturer admin, with the
// store read-only (the appliance may run) or none (revoked from elsewhere).
func revokeAdmin(cfg *config.Config, as, adminMSPDir string, log *slog.Logger) (daemon.KeyAdmin, *store.Store, func(), error) {
	if cfg.Ledger.Kind != config.LedgerFabric {
		n, admin, closeAll, err := keyAdmin(cfg, as, adminMSPDir, log)
		if err != nil {
			return nil, nil, nil, err
		}
		return admin, n.Store, closeAll, nil
	}
	l, err := connectManufacturerAdmin(cfg, as, adminMSPDir, log)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := store.OpenReadOnly(daemon.StoreDir(cfg))
	if err != nil {
		log.Warn("revoke-key cannot read the appliance's store; its outbox is not checked", "err", err)
		return l, nil, func() { l.Close() }, nil
	}
	return l, st, func() { st.Close(); l.Close() }, nil
}

// checkRevocable refuses a revocation that would strand blocks: a block
// signed by a revoked key is never anchored (it would be anchored after
// the compromise), and no block after it either, since each needs its
// predecessor on the ledger.
func checkRevocable(ctx context.Context, cfg *config.Config, admin daemon.KeyAdmin, st *store.Store, keyID string) error {
	a, err := admin.Appliance(ctx, cfg.Appliance.ID)
	if err != nil {
		return err
	}
	k, ok := a.Key(keyID)
	if !ok {
		return fmt.Errorf("appliance %s has no key %s (its keys: %s)", a.ID, keyID, keyIDs(a))
	}
	if a.Current().ID == k.ID {
		return fmt.Errorf("key %s is appliance %s's current key: every block it seals from now on could never be anchored, nor any block after it. "+
			"Rotate first (`wotchain rotate-key --config %s`), let the outbox drain, then revoke; or pass --force (the appliance itself is lost)",
			k.ID, a.ID, cfg.Path)
	}
	if st == nil {
		return nil
	}
	stranded, err := daemon.UnanchoredBlocks(st, a, k.ID)
	if err != nil {
		return err
	}
	if len(stranded) > 0 {
		return fmt.Errorf("%d blocks signed by key %s (heights %d..%d) are not anchored yet: once it is revoked they never can be, nor any block after them. "+
			"Start the appliance and let its outbox drain first, or pass --force", len(stranded), k.ID, stranded[0], stranded[len(stranded)-1])
	}
	return nil
}

func keyIDs(a *rules.Appliance) string {
	var ids []string
	for _, k := range a.Keys {
		ids = append(ids, k.ID)
	}
	return strings.Join(ids, ", ")
}

// keyEntry prints a key's history entry.
func keyEntry(k rules.ApplianceKey) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  key %s  heights %s\n", k.ID, k.Heights())
	fmt.Fprintf(&b, "  registered    %s\n", rfc3339(k.RegisteredAt))
	if k.RotatedAt != 0 {
		fmt.Fprintf(&b, "  rotated       %s\n", rfc3339(k.RotatedAt))
	}
	if k.RevokedAt != 0 {
		fmt.Fprintf(&b, "  revoked       %s\n  compromised   %s\n  reason        %s\n", rfc3339(k.RevokedAt), rfc3339(k.CompromisedAt), k.RevokeReason)
	}
	return b.String()
}

func rfc3339(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
