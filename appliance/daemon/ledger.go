package daemon

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/bridge/ledger"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/fabric/fabricledger"
	"github.com/wotchain/wotchain/fabric/netdesc"
)

// Ledger is what the appliance and its tools need of a ledger. The
// embedded ledger and the Fabric gateway adapter both provide it, running
// the same contract rules.
type Ledger interface {
	Identity() rules.Caller
	RegisterAppliance(ctx context.Context, a rules.Appliance) error
	Anchor(ctx context.Context, sub format.Submission) (*format.Credential, bool, error)
	Credential(ctx context.Context, blockID string) (*format.Credential, error)
	Appliance(ctx context.Context, id string) (*rules.Appliance, error)
	ListByDevice(ctx context.Context, device string, from, to int64, limit int, bookmark string) (*format.Page, error)
	ListByAppliance(ctx context.Context, applianceID string, limit int, bookmark string) (*format.Page, error)
	RecordGrant(ctx context.Context, g rules.Grant) (*rules.Grant, bool, error)
	RevokeGrant(ctx context.Context, applianceID, grantID string) (*rules.Grant, error)
	ListGrants(ctx context.Context, applianceID string, limit int, bookmark string) (*rules.GrantPage, error)
}

var (
	_ Ledger = (*ledger.Embedded)(nil)
	_ Ledger = (*fabricledger.Ledger)(nil)
)

// openLedger opens the configured ledger; st is the appliance's store,
// which holds the embedded ledger's state (nil for a Fabric-only view).
func openLedger(cfg *config.Config, st *store.Store, log *slog.Logger) (Ledger, func() error, error) {
	if cfg.Ledger.Kind != config.LedgerFabric {
		if st == nil {
			return nil, nil, fmt.Errorf("the embedded ledger lives in the appliance's store (%s)", StoreDir(cfg))
		}
		return ledger.NewEmbedded(st.Ledger(), "appliance:"+cfg.Appliance.ID, log), func() error { return nil }, nil
	}
	fc, err := FabricConfig(cfg, cfg.Ledger.Fabric.User, log)
	if err != nil {
		return nil, nil, err
	}
	l, err := fabricledger.Connect(fc)
	if err != nil {
		return nil, nil, fmt.Errorf("ledger: %w", err)
	}
	return l, l.Close, nil
}

// FabricConfig builds the gateway settings from the configuration, acting
// as user (a user of the network description's organisation; ignored with
// explicit identity files).
func FabricConfig(cfg *config.Config, user string, log *slog.Logger) (fabricledger.Config, error) {
	f := cfg.Ledger.Fabric
	fc := fabricledger.Config{
		PeerEndpoint: f.PeerEndpoint, TLSCAFile: cfg.Resolve(f.TLSCAFile), ServerNameOverride: f.ServerName,
		MSPID: f.MSPID, CertFile: cfg.Resolve(f.CertFile), KeyFile: cfg.Resolve(f.KeyFile), MSPDir: cfg.Resolve(f.MSPDir),
		Channel: f.Channel, Chaincode: f.Chaincode, Log: log,
	}
	fc.Timeouts.CommitStatus = f.Timeout.D()
	if f.NetworkDir == "" {
		return fc, nil
	}
	net, err := netdesc.Load(cfg.Resolve(f.NetworkDir))
	if err != nil {
		return fc, fmt.Errorf("ledger.fabric.network_dir: %w (start the network with `make fabric-up`)", err)
	}
	org, err := net.Org(f.MSPID)
	if err != nil {
		return fc, fmt.Errorf("ledger.fabric.msp_id: %w", err)
	}
	u, err := org.User(user)
	if err != nil {
		return fc, fmt.Errorf("ledger.fabric.user: %w", err)
	}
	fc.PeerEndpoint, fc.TLSCAFile, fc.ServerNameOverride = org.Peer.Address, org.Peer.TLSCAFile, org.Peer.ServerName
	fc.CertFile, fc.KeyFile, fc.MSPDir = u.CertFile, u.KeyFile, ""
	fc.Channel, fc.Chaincode = net.Channel, net.Chaincode
	return fc, nil
}
