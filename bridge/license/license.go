// Package license carries out the owner's grants: for every anchored block
// a grant covers, it unwraps the block's data key with the owner key,
// wraps it for the partner's key and stores that delivery beside the
// blocks. Blocks are never re-encrypted or re-uploaded, and a partner
// whose grant does not cover a block (other devices, other times, sealed
// after revocation) never receives its key.
package license

import (
	"context"
	"crypto/hpke"
	"fmt"
	"log/slog"

	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// Ledger lists the appliance's grants.
type Ledger interface {
	ListGrants(ctx context.Context, applianceID string, limit int, bookmark string) (*rules.GrantPage, error)
}

// Storage stores deliveries under names partners can derive.
type Storage interface {
	PutNamed(ctx context.Context, name string, data []byte) (string, error)
}

// Licensor delivers data keys for grants.
type Licensor struct {
	st          *store.Store
	ledger      Ledger
	storage     Storage
	owner       hpke.PrivateKey
	applianceID string
	log         *slog.Logger
}

// New returns a licensor.
func New(st *store.Store, ledger Ledger, storage Storage, owner hpke.PrivateKey, applianceID string, log *slog.Logger) *Licensor {
	return &Licensor{st: st, ledger: ledger, storage: storage, owner: owner, applianceID: applianceID, log: log}
}

// Deliver examines every anchored block not yet examined for each grant
// and delivers the keys the grants cover. It returns how many it delivered.
func (l *Licensor) Deliver(ctx context.Context) (int, error) {
	var grants []*rules.Grant
	for bookmark := ""; ; {
		page, err := l.ledger.ListGrants(ctx, l.applianceID, 100, bookmark)
		if err != nil {
			return 0, fmt.Errorf("list grants: %w", err)
		}
		grants = append(grants, page.Grants...)
		if bookmark = page.Bookmark; bookmark == "" {
			break
		}
	}
	total := 0
	for _, g := range grants {
		n, err := l.deliverGrant(ctx, g)
		total += n
		if err != nil {
			return total, fmt.Errorf("grant %s: %w", g.ID, err)
		}
	}
	return total, nil
}

func (l *Licensor) deliverGrant(ctx context.Context, g *rules.Grant) (int, error) {
	kem, err := hpke.NewKEM(g.PartnerKEM)
	if err != nil {
		return 0, err
	}
	pub, err := kem.NewPublicKey(g.PartnerKey)
	if err != nil {
		return 0, fmt.Errorf("partner key: %w", err)
	}
	from, err := l.st.Cursor(grantCursor(g.ID))
	if err != nil {
		return 0, err
	}
	delivered := 0
	err = l.st.Blocks(from, func(b *store.BlockRecord) (bool, error) {
		// Only anchored blocks: a partner must be able to check the
		// credential of every block it receives a key for.
		if b.State != store.Anchored {
			return false, nil
		}
		h, err := format.ParseHeader(b.Header)
		if err != nil {
			return false, fmt.Errorf("block %d: %w", b.Height, err)
		}
		if g.Covers(h.Devices, h.FirstTime, h.LastTime, h.SealedAt) {
			if err := l.deliverBlock(ctx, g, b, pub); err != nil {
				return false, err
			}
			delivered++
		}
		return true, l.st.SetCursor(grantCursor(g.ID), b.Height+1)
	})
	if delivered > 0 {
		l.log.Info("data keys delivered", "grant", g.ID, "partner", g.PartnerMSP, "blocks", delivered)
	}
	return delivered, err
}

func (l *Licensor) deliverBlock(ctx context.Context, g *rules.Grant, b *store.BlockRecord, pub hpke.PublicKey) error {
	raw, err := l.st.Object(b.Height)
	if err != nil {
		return err
	}
	obj, err := envelope.Parse(raw)
	if err != nil {
		return fmt.Errorf("block %d: %w", b.Height, err)
	}
	dataKey, err := obj.DataKey(l.owner)
	if err != nil {
		return fmt.Errorf("block %d: %w", b.Height, err)
	}
	rec, err := envelope.Wrap(obj.Header, dataKey, pub)
	if err != nil {
		return err
	}
	d := &envelope.Delivery{Format: envelope.DeliveryFormat, BlockID: b.BlockID, GrantID: g.ID, Recipient: rec}
	data, err := d.Encode()
	if err != nil {
		return err
	}
	if _, err := l.storage.PutNamed(ctx, envelope.DeliveryName(rec.KeyID, b.BlockID), data); err != nil {
		return fmt.Errorf("block %d: store key delivery: %w", b.Height, err)
	}
	return nil
}

// grantCursor names the next block height examined for a grant.
func grantCursor(grantID string) string { return "grant/" + grantID }
