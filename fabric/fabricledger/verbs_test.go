package fabricledger_test

import (
	"context"
	"crypto/ed25519"
	"time"

	"github.com/wotchain/wotchain/bridge/ledger"
	"github.com/wotchain/wotchain/bridge/outbox"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/fabric/fabricledger"
)

// grantVerbs are the licensing verbs the appliance calls on either ledger;
// both must keep the same signatures so the appliance can swap them.
type grantVerbs interface {
	RecordGrant(ctx context.Context, g rules.Grant) (*rules.Grant, bool, error)
	RevokeGrant(ctx context.Context, applianceID, grantID string) (*rules.Grant, error)
	ListGrants(ctx context.Context, applianceID string, limit int, bookmark string) (*rules.GrantPage, error)
}

var (
	_ grantVerbs = (*fabricledger.Ledger)(nil)
	_ grantVerbs = (*ledger.Embedded)(nil)
)

// Both ledgers anchor a run of blocks in one transaction when the outbox
// asks (its optional batch interface).
var (
	_ outbox.BatchLedger = (*fabricledger.Ledger)(nil)
	_ outbox.BatchLedger = (*ledger.Embedded)(nil)
)

// keyVerbs are the key history verbs (issue #14), the same on both ledgers.
type keyVerbs interface {
	RotateApplianceKey(ctx context.Context, applianceID string, pub ed25519.PublicKey, fromHeight uint64) (*rules.Appliance, error)
	RevokeApplianceKey(ctx context.Context, applianceID, keyID string, compromisedAt time.Time, reason string) (*rules.Appliance, error)
}

var (
	_ keyVerbs = (*fabricledger.Ledger)(nil)
	_ keyVerbs = (*ledger.Embedded)(nil)
)
