package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/appliance/daemon"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/fabric/fabricledger"
)

// cmdRegister registers the appliance on Fabric as a manufacturer admin:
// its Ed25519 key and the client identity (the configured ledger user) that
// may anchor for it.
func cmdRegister(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("register")
	path := fs.String("config", "", "appliance configuration file (ledger.kind: fabric)")
	as := fs.String("as", "Admin", "manufacturer admin user from the network description")
	adminMSPDir := fs.String("admin-msp-dir", "", "admin MSP directory (instead of --as, without network_dir)")
	cfg, err := parseConfig(fs, args, path)
	if err != nil {
		return err
	}
	if cfg.Ledger.Kind != config.LedgerFabric {
		return fmt.Errorf("%w: register is for the Fabric ledger; the embedded ledger registers the appliance itself", errUsage)
	}
	log := slog.New(slog.DiscardHandler)
	signPath := cfg.Resolve(cfg.Appliance.SigningKey)
	priv, err := keys.LoadSigning(signPath)
	if errors.Is(err, iofs.ErrNotExist) {
		// A new key beside a store with data would not be the key that
		// signed it: that is rotate-key's job.
		if held, herr := daemon.HoldsData(cfg); herr != nil || held {
			return errors.Join(fmt.Errorf("signing key %s is missing, but the appliance's store holds data signed by it: "+
				"restore the key file from backup, or replace the key with `wotchain rotate-key --config %s`", signPath, *path), herr)
		}
		if priv, err = keys.GenerateSigning(signPath); err == nil {
			fmt.Fprintf(stdout, "generated appliance signing key %s\n", signPath)
		}
	}
	if err != nil {
		return err
	}
	anchorCfg, err := daemon.FabricConfig(cfg, cfg.Ledger.Fabric.User, log)
	if err != nil {
		return err
	}
	certFile := anchorCfg.CertFile
	if certFile == "" {
		return fmt.Errorf("ledger.fabric: register needs the anchoring identity's cert_file (or network_dir)")
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return err
	}
	anchor, err := fabricledger.CallerOfPEM(anchorCfg.MSPID, certPEM)
	if err != nil {
		return err
	}
	adminCfg := anchorCfg
	if *adminMSPDir != "" {
		adminCfg.CertFile, adminCfg.KeyFile, adminCfg.MSPDir = "", "", *adminMSPDir
	} else if adminCfg, err = daemon.FabricConfig(cfg, *as, log); err != nil {
		return err
	}
	l, err := fabricledger.Connect(adminCfg)
	if err != nil {
		return err
	}
	defer l.Close()
	a := rules.Appliance{ID: cfg.Appliance.ID, PublicKey: priv.Public().(ed25519.PublicKey),
		AnchorMSP: anchor.MSPID, AnchorID: anchor.ID, OwnerMSP: l.Identity().MSPID}
	if err := l.RegisterAppliance(ctx, a); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "appliance %s registered by %s: anchoring identity %s\n", a.ID, l.Identity(), anchor)
	return nil
}

// cmdProvenance lists the credentials of a device's blocks over a time range.
func cmdProvenance(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("provenance")
	path := fs.String("config", "", "configuration naming the ledger (a partner's own peer on Fabric)")
	device := fs.String("device", "", "device id")
	from := fs.String("from", "", "start of the time range (RFC 3339; default 24h ago)")
	to := fs.String("to", "", "end of the time range (RFC 3339; default now)")
	asJSON := fs.Bool("json", false, "print one credential per line as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *device == "" {
		return fmt.Errorf("%w: --device is required", errUsage)
	}
	f, t := time.Now().Add(-24*time.Hour).UnixNano(), time.Now().UnixNano()
	var err error
	if *from != "" {
		if f, err = parseTime("from", *from); err != nil {
			return err
		}
	}
	if *to != "" {
		if t, err = parseTime("to", *to); err != nil {
			return err
		}
	}
	n, err := openView(*path)
	if err != nil {
		return err
	}
	defer n.Close()
	return printProvenance(ctx, n.Ledger, *device, f, t, *asJSON, stdout)
}

// follower streams committed credentials from chaincode events.
type follower interface {
	FollowAnchored(ctx context.Context, checkpointFile string, handle func(context.Context, fabricledger.AnchoredEvent) error) error
}

// cmdFollow prints every newly anchored credential as a JSON line, resuming
// after the last one it printed (checkpoint file) when restarted.
func cmdFollow(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("follow")
	path := fs.String("config", "", "configuration naming the Fabric ledger")
	checkpoint := fs.String("checkpoint", "", "checkpoint file (default ledger.fabric.checkpoint)")
	n, err := parseView(fs, args, path)
	if err != nil {
		return err
	}
	defer n.Close()
	f, ok := n.Ledger.(follower)
	if !ok {
		return fmt.Errorf("%w: follow needs ledger.kind fabric (the embedded ledger has no event stream)", errUsage)
	}
	cp := *checkpoint
	if cp == "" {
		cp = n.Cfg.Resolve(n.Cfg.Ledger.Fabric.Checkpoint)
	}
	if cp == "" {
		return fmt.Errorf("%w: give --checkpoint or ledger.fabric.checkpoint", errUsage)
	}
	if err := os.MkdirAll(filepath.Dir(cp), 0o750); err != nil {
		return fmt.Errorf("checkpoint directory: %w", err)
	}
	enc := json.NewEncoder(stdout)
	err = f.FollowAnchored(ctx, cp, func(_ context.Context, ev fabricledger.AnchoredEvent) error {
		return enc.Encode(map[string]any{"ledger_block": ev.BlockNumber, "tx": ev.TxID, "credential": ev.Credential})
	})
	if ctx.Err() != nil {
		return nil // interrupted: the checkpoint holds the position
	}
	return err
}

func openView(path string) (*daemon.Node, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: --config is required", errUsage)
	}
	cfg, err := loadViewConfig(path)
	if err != nil {
		return nil, err
	}
	return daemon.OpenView(cfg)
}
