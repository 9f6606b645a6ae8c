// Package ledger is the appliance's embedded ledger: the contract's rules
// (chaincode/rules, the same code the Fabric chaincode runs) executed
// in-process over a RocksDB column family. Each call is one transaction
// whose writes are applied atomically, as a peer applies a write set.
package ledger

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// LocalMSP is the organisation name of the embedded ledger's single member.
const LocalMSP = "local"

// Embedded runs the contract locally. The appliance is both the manufacturer
// admin and the anchoring identity: there is nobody else on this ledger.
type Embedded struct {
	mu     sync.Mutex // one transaction at a time, like a serial validator
	state  store.LedgerState
	policy rules.Policy
	caller rules.Caller
	log    *slog.Logger
	now    func() time.Time // the transaction time, as a Fabric peer stamps it
}

// Option configures an Embedded ledger.
type Option func(*Embedded)

// WithClock sets the clock that stamps transactions (tests: revocation
// and rotation times that are known in advance).
func WithClock(now func() time.Time) Option {
	return func(e *Embedded) { e.now = now }
}

// NewEmbedded opens the embedded ledger over the store's ledger state.
func NewEmbedded(st store.LedgerState, identity string, log *slog.Logger, opts ...Option) *Embedded {
	e := &Embedded{
		state:  st,
		policy: rules.Policy{ManufacturerMSP: LocalMSP},
		caller: rules.Caller{MSPID: LocalMSP, ID: identity, Admin: true},
		log:    log,
		now:    time.Now,
	}
	for _, o := range opts {
		o(e)
	}
	return e
}

// txTime is the transaction time in Unix ns, as the rules take it.
func (e *Embedded) txTime() int64 { return e.now().UnixNano() }

// Identity is the caller identity this ledger submits as (to register as the anchoring identity).
func (e *Embedded) Identity() rules.Caller { return e.caller }

// tx buffers a transaction's writes. Its reads and scans see committed
// state only, not the transaction's own writes, as on Fabric: the rules
// run the same here as in the chaincode (a batch finds its earlier blocks
// through the rules' own overlay).
type tx struct {
	base   store.LedgerState
	writes map[string][]byte
	events []string
}

func (t *tx) GetState(key string) ([]byte, error) { return t.base.Get(key) }

func (t *tx) PutState(key string, value []byte) error {
	t.writes[key] = value
	return nil
}

func (t *tx) SetEvent(name string, _ []byte) error {
	t.events = append(t.events, name)
	return nil
}

func (t *tx) ScanComposite(objectType string, attrs []string, limit int, bookmark string) ([]rules.KV, string, error) {
	prefix, err := rules.CompositeKey(objectType, attrs...)
	if err != nil {
		return nil, "", err
	}
	var out []rules.KV
	next := ""
	err = t.base.Scan(prefix, bookmark, func(k string, v []byte) (bool, error) {
		if len(out) == limit {
			next = k
			return false, nil
		}
		out = append(out, rules.KV{Key: k, Value: v})
		return true, nil
	})
	return out, next, err
}

// run executes fn as one transaction and commits its writes if it succeeds.
func (e *Embedded) run(ctx context.Context, fn func(*tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	t := &tx{base: e.state, writes: map[string][]byte{}}
	if err := fn(t); err != nil {
		return err
	}
	if len(t.writes) == 0 {
		return nil
	}
	return e.state.Commit(t.writes)
}

// RegisterAppliance registers an appliance, or updates the anchoring
// identity of one registered with the same key (another key is
// rules.ErrConflict: that is RotateApplianceKey's job).
func (e *Embedded) RegisterAppliance(ctx context.Context, a rules.Appliance) error {
	return e.run(ctx, func(t *tx) error { return rules.RegisterAppliance(t, e.policy, e.caller, a, e.txTime()) })
}

// RotateApplianceKey gives an appliance a new signing key for its blocks
// from fromHeight on (rules.RotateApplianceKey) and returns the appliance.
func (e *Embedded) RotateApplianceKey(ctx context.Context, applianceID string, pub ed25519.PublicKey, fromHeight uint64) (a *rules.Appliance, err error) {
	err = e.run(ctx, func(t *tx) error {
		a, err = rules.RotateApplianceKey(t, e.policy, e.caller, applianceID, pub, fromHeight, e.txTime())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("rotate key of appliance %s: %w", applianceID, err)
	}
	return a, nil
}

// RevokeApplianceKey records that an appliance key was compromised at
// compromisedAt (rules.RevokeApplianceKey) and returns the appliance.
func (e *Embedded) RevokeApplianceKey(ctx context.Context, applianceID, keyID string, compromisedAt time.Time, reason string) (a *rules.Appliance, err error) {
	err = e.run(ctx, func(t *tx) error {
		a, err = rules.RevokeApplianceKey(t, e.policy, e.caller, applianceID, keyID, rules.UnixNano(compromisedAt), reason, e.txTime())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("revoke key %s of appliance %s: %w", keyID, applianceID, err)
	}
	return a, nil
}

// Anchor records a block credential; recorded is false when the identical
// credential was already on the ledger.
func (e *Embedded) Anchor(ctx context.Context, sub format.Submission) (cred *format.Credential, recorded bool, err error) {
	err = e.run(ctx, func(t *tx) error {
		cred, recorded, err = rules.RecordCredential(t, e.caller, sub, e.txTime())
		return err
	})
	return cred, recorded, err
}

// AnchorBatch records consecutive blocks of one appliance in one
// transaction (rules.RecordCredentials): all of them or, if the rules refuse
// one, none. The results are in submission order.
func (e *Embedded) AnchorBatch(ctx context.Context, subs []format.Submission) (out []format.Anchored, err error) {
	err = e.run(ctx, func(t *tx) error {
		out, err = rules.RecordCredentials(t, e.caller, subs, e.txTime())
		return err
	})
	return out, err
}

// Credential returns the credential of a block.
func (e *Embedded) Credential(ctx context.Context, blockID string) (c *format.Credential, err error) {
	err = e.run(ctx, func(t *tx) error { c, err = rules.GetCredential(t, blockID); return err })
	return c, err
}

// Appliance returns a registered appliance.
func (e *Embedded) Appliance(ctx context.Context, id string) (a *rules.Appliance, err error) {
	err = e.run(ctx, func(t *tx) error { a, err = rules.GetAppliance(t, id); return err })
	return a, err
}

// ListByDevice lists credentials of a device's blocks overlapping [from, to].
func (e *Embedded) ListByDevice(ctx context.Context, device string, from, to int64, limit int, bookmark string) (p *format.Page, err error) {
	err = e.run(ctx, func(t *tx) error { p, err = rules.ListByDevice(t, device, from, to, limit, bookmark); return err })
	return p, err
}

// ListByAppliance lists an appliance's credentials in height order.
func (e *Embedded) ListByAppliance(ctx context.Context, applianceID string, limit int, bookmark string) (p *format.Page, err error) {
	err = e.run(ctx, func(t *tx) error { p, err = rules.ListByAppliance(t, applianceID, limit, bookmark); return err })
	return p, err
}

// RecordGrant records a licensing grant as the local owner.
func (e *Embedded) RecordGrant(ctx context.Context, g rules.Grant) (rec *rules.Grant, recorded bool, err error) {
	err = e.run(ctx, func(t *tx) error {
		rec, recorded, err = rules.RecordGrant(t, e.caller, g, e.txTime())
		return err
	})
	return rec, recorded, err
}

// RevokeGrant revokes a grant from now on.
func (e *Embedded) RevokeGrant(ctx context.Context, applianceID, grantID string) (g *rules.Grant, err error) {
	err = e.run(ctx, func(t *tx) error {
		g, err = rules.RevokeGrant(t, e.caller, applianceID, grantID, e.txTime())
		return err
	})
	return g, err
}

// ListGrants lists an appliance's grants.
func (e *Embedded) ListGrants(ctx context.Context, applianceID string, limit int, bookmark string) (p *rules.GrantPage, err error) {
	err = e.run(ctx, func(t *tx) error { p, err = rules.ListGrants(t, applianceID, limit, bookmark); return err })
	return p, err
}
