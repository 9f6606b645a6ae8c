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
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/fabric/fabricledger"
)

func parseTime(flagName, v string) (int64, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return 0, fmt.Errorf("%w: --%s: %v (use RFC 3339, e.g. 2026-11-25T08:00:00Z)", errUsage, flagName, err)
	}
	return t.UnixNano(), nil
}

// ownerLedger is what grant and revoke need.
type ownerLedger interface {
	RecordGrant(ctx context.Context, g rules.Grant) (*rules.Grant, bool, error)
	RevokeGrant(ctx context.Context, applianceID, grantID string) (*rules.Grant, error)
}

// openOwner opens the ledger as the data owner. On the embedded ledger the
// appliance is the owner and its store must be writable (the appliance
// stopped); on Fabric it connects as the owner organisation's admin (as).
func openOwner(path, as string) (ownerLedger, string, func(), error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, "", nil, err
	}
	if cfg.Ledger.Kind == config.LedgerFabric {
		fc, err := daemon.FabricConfig(cfg, as, slog.New(slog.DiscardHandler))
		if err != nil {
			return nil, "", nil, err
		}
		l, err := fabricledger.Connect(fc)
		if err != nil {
			return nil, "", nil, err
		}
		return l, cfg.Appliance.ID, func() { l.Close() }, nil
	}
	n, err := daemon.Open(cfg, slog.New(slog.DiscardHandler), false)
	if err != nil {
		return nil, "", nil, err
	}
	return n.Ledger, cfg.Appliance.ID, n.Close, nil
}

func cmdGrant(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("grant")
	path := fs.String("config", "", "appliance configuration file")
	id := fs.String("id", "", "grant id, unique per appliance")
	partnerMSP := fs.String("partner-msp", "", "partner organisation (MSP id)")
	partnerKey := fs.String("partner-key", "", "partner's HPKE public key file (.pub from wotchain keygen --kind recipient)")
	devices := fs.String("devices", "", "comma-separated device ids (default: all devices)")
	from := fs.String("from", "", "start of the licensed time range (RFC 3339)")
	to := fs.String("to", "", "end of the licensed time range (RFC 3339)")
	as := fs.String("as", "Admin", "on Fabric: the owner organisation's admin user from the network description")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *id == "" || *partnerMSP == "" || *partnerKey == "" || *from == "" || *to == "" {
		return fmt.Errorf("%w: --id, --partner-msp, --partner-key, --from and --to are required", errUsage)
	}
	g := rules.Grant{ID: *id, PartnerMSP: *partnerMSP}
	var err error
	if g.From, err = parseTime("from", *from); err != nil {
		return err
	}
	if g.To, err = parseTime("to", *to); err != nil {
		return err
	}
	if *devices != "" {
		g.Devices = strings.Split(*devices, ",")
	}
	pub, err := keys.LoadRecipientPublic(*partnerKey)
	if err != nil {
		return err
	}
	g.PartnerKEM, g.PartnerKey = pub.KEM().ID(), pub.Bytes()
	led, applianceID, closeLedger, err := openOwner(*path, *as)
	if err != nil {
		return err
	}
	defer closeLedger()
	g.ApplianceID = applianceID
	rec, recorded, err := led.RecordGrant(ctx, g)
	if err != nil {
		return err
	}
	state := "recorded"
	if !recorded {
		state = "already recorded"
	}
	fmt.Fprintf(stdout, "grant %s %s: %s may read %s from %s to %s (partner key %s)\n", rec.ID, state, rec.PartnerMSP,
		deviceList(rec.Devices), *from, *to, keys.KeyID(pub))
	return nil
}

func deviceList(d []string) string {
	if len(d) == 0 {
		return "all devices"
	}
	return strings.Join(d, ", ")
}

func cmdRevoke(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("revoke")
	path := fs.String("config", "", "appliance configuration file")
	id := fs.String("id", "", "grant id")
	as := fs.String("as", "Admin", "on Fabric: the owner organisation's admin user from the network description")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *id == "" {
		return fmt.Errorf("%w: --id is required", errUsage)
	}
	led, applianceID, closeLedger, err := openOwner(*path, *as)
	if err != nil {
		return err
	}
	defer closeLedger()
	g, err := led.RevokeGrant(ctx, applianceID, *id)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "grant %s revoked at %s: blocks sealed from then on are not delivered to %s\n", g.ID,
		time.Unix(0, g.RevokedAt).UTC().Format(time.RFC3339), g.PartnerMSP)
	return nil
}

func cmdGrants(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("grants")
	path := fs.String("config", "", "appliance configuration file")
	n, err := parseView(fs, args, path)
	if err != nil {
		return err
	}
	defer n.Close()
	if n.Cfg.Appliance.ID == "" {
		return fmt.Errorf("%w: the configuration names no appliance.id", errUsage)
	}
	for bookmark := ""; ; {
		page, err := n.Ledger.ListGrants(ctx, n.Cfg.Appliance.ID, 100, bookmark)
		if err != nil {
			return err
		}
		for _, g := range page.Grants {
			state := "active"
			if g.RevokedAt != 0 {
				state = "revoked " + time.Unix(0, g.RevokedAt).UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(stdout, "%s\t%s\t%s\t%s .. %s\t%s\n", g.ID, g.PartnerMSP, deviceList(g.Devices),
				time.Unix(0, g.From).UTC().Format(time.RFC3339), time.Unix(0, g.To).UTC().Format(time.RFC3339), state)
		}
		if bookmark = page.Bookmark; bookmark == "" {
			return nil
		}
	}
}
