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
	if n := len(r.Stranded); n > 0 {
		fmt.Fprintf(stdout, "blocks %d..%d were sealed under key %s, whose revocation ended its heights at %d: the appliance re-seals them under key %s when it starts (no reading is lost)\n",
			r.Stranded[0], r.Stranded[n-1], old, r.FromHeight, r.NewID)
	}
	if r.Retired != "" {
		fmt.Fprintf(stdout, "old key kept as %s (never delete it)\n", r.Retired)
	}
	fmt.Fprintf(stdout, "new key %s in %s; start the appliance: blocks from height %d are signed by it\n",
		r.NewID, cfg.Resolve(cfg.Appliance.SigningKey), r.FromHeight)
	return nil
}

// cmdRevokeKey records that a key of the appliance was compromised: the
// ledger refuses blocks signed by it and anchored from the compromise time,
// and cuts its range at the first height it had not anchored. The blocks
// it stranded in the outbox are re-sealed under the current key: here on
// the embedded ledger (the appliance is stopped), at the appliance's next
// start on Fabric. Without --force it refuses only where a reading would
// still be lost: a block of the key that the disk budget dropped cannot
// be re-sealed.
func cmdRevokeKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("revoke-key")
	path := fs.String("config", "", "appliance configuration file")
	keyID := fs.String("key-id", "", "the key to revoke (as rotate-key and provenance print it)")
	at := fs.String("compromised-at", "", "the earliest time the key may have been copied (RFC 3339)")
	reason := fs.String("reason", "", "why (default: compromised)")
	force := fs.Bool("force", false, "revoke even a key whose unanchored blocks include one the disk budget dropped (it, and every block after it, can then never be anchored)")
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
	r, err := revokeAdmin(cfg, *as, *adminMSPDir, log)
	if err != nil {
		return err
	}
	defer r.close()
	if err := checkRevocable(ctx, cfg, r.admin, r.st, *keyID, *force); err != nil {
		return err
	}
	a, err := r.admin.RevokeApplianceKey(ctx, cfg.Appliance.ID, *keyID, time.Unix(0, compromised), *reason)
	if err != nil {
		return err
	}
	k, ok := a.Key(*keyID)
	if !ok {
		return fmt.Errorf("the ledger revoked key %s but its record of appliance %s does not list it", *keyID, a.ID)
	}
	fmt.Fprintf(stdout, "appliance %s: key %s revoked; blocks signed by it and anchored from %s on are refused\n%s",
		a.ID, k.ID, rfc3339(k.CompromisedAt), keyEntry(k))
	return resealAfterRevocation(stdout, cfg, r, a, k, log)
}

// revoker is what revoke-key changes the history through, and the
// appliance's state when it is here.
type revoker struct {
	admin daemon.KeyAdmin
	node  *daemon.Node // the stopped appliance's node (embedded ledger); nil on Fabric
	st    *store.Store // its store, read-only on Fabric; nil when it cannot be read
	close func()
}

// revokeAdmin opens the revoker: on the embedded ledger the stopped
// appliance's node; on Fabric the manufacturer admin, with the store
// read-only (the appliance may run) or none (revoked from elsewhere).
func revokeAdmin(cfg *config.Config, as, adminMSPDir string, log *slog.Logger) (*revoker, error) {
	if cfg.Ledger.Kind != config.LedgerFabric {
		n, admin, closeAll, err := keyAdmin(cfg, as, adminMSPDir, log)
		if err != nil {
			return nil, err
		}
		return &revoker{admin: admin, node: n, st: n.Store, close: closeAll}, nil
	}
	l, err := connectManufacturerAdmin(cfg, as, adminMSPDir, log)
	if err != nil {
		return nil, err
	}
	st, err := store.OpenReadOnly(daemon.StoreDir(cfg))
	if err != nil {
		log.Warn("revoke-key cannot read the appliance's store; its outbox is not checked", "err", err)
		return &revoker{admin: l, close: func() { l.Close() }}, nil
	}
	return &revoker{admin: l, st: st, close: func() { st.Close(); l.Close() }}, nil
}

// checkRevocable checks the key exists, and, without force, refuses a
// revocation that would lose readings: a block of the key still in the
// outbox whose data the disk budget dropped cannot be re-sealed, so once
// the key is revoked it and every block after it (each needs its
// predecessor on the ledger) could never be anchored. Every other block
// the revocation strands is re-sealed (resealAfterRevocation).
func checkRevocable(ctx context.Context, cfg *config.Config, admin daemon.KeyAdmin, st *store.Store, keyID string, force bool) error {
	a, err := admin.Appliance(ctx, cfg.Appliance.ID)
	if err != nil {
		return err
	}
	k, ok := a.Key(keyID)
	if !ok {
		return fmt.Errorf("appliance %s has no key %s (its keys: %s)", a.ID, keyID, keyIDs(a))
	}
	if st == nil || force {
		return nil
	}
	pending, err := daemon.UnanchoredBlocks(st, a, k.ID)
	if err != nil {
		return err
	}
	for _, h := range pending {
		b, err := st.Block(h)
		if err != nil {
			return err
		}
		if b.Dropped {
			return fmt.Errorf("block %d, signed by key %s and not anchored yet, was dropped by the disk budget: its readings are gone, so it cannot be re-sealed, "+
				"and once the key is revoked it can never be anchored, nor any block after it. Start the appliance and let its outbox anchor it first, or pass --force", h, k.ID)
		}
	}
	return nil
}

// resealAfterRevocation re-seals the blocks the revocation stranded, on a
// stopped appliance with its key, and says what happens to the others.
func resealAfterRevocation(stdout io.Writer, cfg *config.Config, r *revoker, a *rules.Appliance, k rules.ApplianceKey, log *slog.Logger) error {
	if cur := a.Current(); cur.Cut {
		fmt.Fprintf(stdout, "key %s is the appliance's current key: no block from height %d on is anchored until `wotchain rotate-key --config %s` registers a new key; "+
			"the next start then re-seals those blocks under it (no reading is lost)\n", cur.ID, cur.ToHeight, cfg.Path)
		return nil
	}
	if r.node == nil || r.node.Signing == nil {
		if k.Cut {
			fmt.Fprintf(stdout, "blocks from height %d, sealed under key %s and not anchored, are re-sealed under the current key when the appliance next starts\n", k.ToHeight, k.ID)
		}
		return nil
	}
	res, err := r.node.ResealStranded(a, log)
	if err != nil {
		return fmt.Errorf("key %s is revoked; re-sealing the blocks it stranded failed (the next start does it): %w", k.ID, err)
	}
	if res != nil {
		fmt.Fprintf(stdout, "re-sealed blocks %d..%d (readings %d..%d, %d polls) under key %s as %d new blocks; the appliance anchors them when it starts\n",
			res.Plan.From, res.Plan.To, res.Plan.FirstSeq, res.Last, res.Polls, a.Current().ID, len(res.New))
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
	if k.Cut {
		fmt.Fprintf(&b, "  cut at        height %d (the first it had not anchored: it signs no block from there)\n", k.ToHeight)
	}
	return b.String()
}

func rfc3339(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
