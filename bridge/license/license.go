// Package license carries out the owner's grants. Blocks are never
// re-encrypted or re-uploaded: the licensor unwraps what the owner key
// opens in a stored block, wraps the part a grant licenses for the
// partner's key, and stores that delivery beside the blocks.
//
// A v2 block (bridge/envelope's ObjectV2) gets, per grant, the key set of
// exactly the grant's polls (Licensed): derived with keytree.Restrict from
// the block's full key set, stored at envelope.DeliveryNameV2; a grant with
// no poll in the block gets nothing. A v1 block has one data key that opens
// all of it: it goes, as before, to every grant that overlaps the block's
// devices and time range (rules.Grant.Covers), which is why v1 grants can
// leak readings that were not granted.
package license

import (
	"context"
	"crypto/hpke"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"

	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/keytree"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// Ledger lists the appliance's grants.
type Ledger interface {
	ListGrants(ctx context.Context, applianceID string, limit int, bookmark string) (*rules.GrantPage, error)
}

// Storage stores deliveries under names partners can derive, and returns
// a block's object when retention has pruned the local copy.
type Storage interface {
	PutNamed(ctx context.Context, name string, data []byte) (string, error)
	Get(ctx context.Context, location string) ([]byte, error)
}

// Licensor delivers keys for grants.
type Licensor struct {
	st          *store.Store
	ledger      Ledger
	storage     Storage
	owner       hpke.PrivateKey
	applianceID string
	log         *slog.Logger
	codec       *envelope.Codec // made at the first v2 block

	delivered atomic.Uint64 // deliveries stored since start
	grants    atomic.Int64  // grants seen by the last pass
	next      atomic.Uint64 // lowest height a grant has not examined, after the last pass
}

// Stats describe the licensor for metrics.
type Stats struct {
	Delivered uint64 // key deliveries stored since start
	Grants    int    // grants the last pass examined blocks for
	// NextHeight is the lowest block height some grant has not examined
	// yet (after the last pass): anchored blocks from it on wait for a
	// delivery decision.
	NextHeight uint64
}

// Stats returns the licensor's statistics.
func (l *Licensor) Stats() Stats {
	return Stats{Delivered: l.delivered.Load(), Grants: int(l.grants.Load()), NextHeight: l.next.Load()}
}

// New returns a licensor.
func New(st *store.Store, ledger Ledger, storage Storage, owner hpke.PrivateKey, applianceID string, log *slog.Logger) *Licensor {
	return &Licensor{st: st, ledger: ledger, storage: storage, owner: owner, applianceID: applianceID, log: log}
}

// grantState is one grant being served: its partner key and the next block
// height to examine (its cursor, durable in the store).
type grantState struct {
	g         *rules.Grant
	pub       hpke.PublicKey
	next      uint64
	delivered int
}

// Deliver examines, for each grant, every anchored block not yet examined
// for it, and delivers what the grant licenses. It returns how many
// deliveries it stored. A grant's cursor advances past a block once the
// block is examined, so a restart resumes where it stopped, and a revoked
// grant still gets the blocks sealed before its revocation but no later one.
func (l *Licensor) Deliver(ctx context.Context) (int, error) {
	var grants []*grantState
	for bookmark := ""; ; {
		page, err := l.ledger.ListGrants(ctx, l.applianceID, 100, bookmark)
		if err != nil {
			return 0, fmt.Errorf("list grants: %w", err)
		}
		for _, g := range page.Grants {
			gs, err := l.grantState(g)
			if err != nil {
				return 0, fmt.Errorf("grant %s: %w", g.ID, err)
			}
			grants = append(grants, gs)
		}
		if bookmark = page.Bookmark; bookmark == "" {
			break
		}
	}
	l.grants.Store(int64(len(grants)))
	if len(grants) == 0 {
		return 0, nil
	}
	from := slices.MinFunc(grants, func(a, b *grantState) int { return compareU64(a.next, b.next) }).next
	total := 0
	// One pass over the blocks for all grants, so a block is opened once
	// however many grants examine it.
	err := l.st.Blocks(from, func(b *store.BlockRecord) (bool, error) {
		// Only anchored blocks: a partner must be able to check the
		// credential of every block it receives a key for.
		if b.State != store.Anchored {
			return false, nil
		}
		blk := &blockState{rec: b}
		for _, gs := range grants {
			if gs.next > b.Height {
				continue
			}
			ok, err := l.deliverBlock(ctx, gs, blk)
			if err != nil {
				return false, fmt.Errorf("grant %s: block %d: %w", gs.g.ID, b.Height, err)
			}
			if ok {
				gs.delivered++
				total++
			}
			if err := l.st.SetCursor(grantCursor(gs.g.ID), b.Height+1); err != nil {
				return false, fmt.Errorf("grant %s: %w", gs.g.ID, err)
			}
			gs.next = b.Height + 1
		}
		return true, nil
	})
	for _, gs := range grants {
		if gs.delivered > 0 {
			l.log.Info("keys delivered", "grant", gs.g.ID, "partner", gs.g.PartnerMSP, "blocks", gs.delivered)
		}
	}
	l.delivered.Add(uint64(total))
	l.next.Store(slices.MinFunc(grants, func(a, b *grantState) int { return compareU64(a.next, b.next) }).next)
	return total, err
}

func (l *Licensor) grantState(g *rules.Grant) (*grantState, error) {
	kem, err := hpke.NewKEM(g.PartnerKEM)
	if err != nil {
		return nil, err
	}
	pub, err := kem.NewPublicKey(g.PartnerKey)
	if err != nil {
		return nil, fmt.Errorf("partner key: %w", err)
	}
	next, err := l.st.Cursor(grantCursor(g.ID))
	if err != nil {
		return nil, err
	}
	return &grantState{g: g, pub: pub, next: next}, nil
}

func compareU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// blockState is one block being examined, opened at most once for all grants.
type blockState struct {
	rec    *store.BlockRecord
	header *format.Header
	opened bool

	dataKey []byte // v1: the block's data key

	// v2: its polls in block order and the owner's full key set.
	polls []Poll
	keys  []keytree.Node
}

// deliverBlock stores the grant's delivery of the block, if the grant
// licenses any of it, and says whether it did.
func (l *Licensor) deliverBlock(ctx context.Context, gs *grantState, blk *blockState) (bool, error) {
	b := blk.rec
	if blk.header == nil {
		h, err := format.ParseHeader(b.Header)
		if err != nil {
			return false, err
		}
		blk.header = h
	}
	h := blk.header
	// The header bounds every poll's device and time, so a grant it does
	// not cover licenses nothing in the block (no need to open it). A
	// dropped block has no data left to license.
	if b.Dropped || !gs.g.Covers(h.Devices, h.FirstTime, h.LastTime, h.SealedAt) {
		return false, nil
	}
	if !blk.opened {
		if err := l.open(ctx, blk); err != nil {
			return false, err
		}
		blk.opened = true
	}
	if h.Version != format.HeaderV2 {
		return true, l.deliverV1(ctx, gs, blk)
	}
	return l.deliverV2(ctx, gs, blk)
}

// deliverV1 wraps the whole block's data key for the grant's partner.
func (l *Licensor) deliverV1(ctx context.Context, gs *grantState, blk *blockState) error {
	rec, err := envelope.Wrap(blk.rec.Header, blk.dataKey, gs.pub)
	if err != nil {
		return err
	}
	d := &envelope.Delivery{Format: envelope.DeliveryFormat, BlockID: blk.rec.BlockID, GrantID: gs.g.ID, Recipient: rec}
	data, err := d.Encode()
	if err != nil {
		return err
	}
	if _, err := l.storage.PutNamed(ctx, envelope.DeliveryName(rec.KeyID, blk.rec.BlockID), data); err != nil {
		return fmt.Errorf("store key delivery: %w", err)
	}
	return nil
}

// deliverV2 wraps the key set of exactly the grant's polls of the block.
func (l *Licensor) deliverV2(ctx context.Context, gs *grantState, blk *blockState) (bool, error) {
	licensed := Licensed(gs.g, blk.polls, blk.header.SealedAt)
	if len(licensed) == 0 {
		return false, nil
	}
	nodes, err := grantKeys(blk.keys, blk.polls, licensed)
	if err != nil {
		return false, err
	}
	ks, err := keytree.EncodeKeySet(nodes)
	if err != nil {
		return false, err
	}
	d, err := envelope.NewDeliveryV2(blk.rec.Header, gs.g.ID, ks, gs.pub)
	if err != nil {
		return false, err
	}
	data, err := d.Encode()
	if err != nil {
		return false, err
	}
	if _, err := l.storage.PutNamed(ctx, envelope.DeliveryNameV2(d.Recipient.KeyID, blk.rec.BlockID, gs.g.ID), data); err != nil {
		return false, fmt.Errorf("store key delivery: %w", err)
	}
	return true, nil
}

// grantKeys derives, from a block's full key set, the cover of exactly the
// polls at the licensed positions, per device.
func grantKeys(full []keytree.Node, polls []Poll, licensed []int) ([]keytree.Node, error) {
	byDevice := map[string][]uint64{}
	var devices []string
	for _, k := range licensed {
		p := polls[k]
		if _, seen := byDevice[p.Device]; !seen {
			devices = append(devices, p.Device)
		}
		byDevice[p.Device] = append(byDevice[p.Device], p.Index)
	}
	var out []keytree.Node
	for _, d := range devices {
		nodes, err := keytree.Restrict(full, d, byDevice[d])
		if err != nil {
			return nil, err
		}
		out = append(out, nodes...)
	}
	return out, nil
}

// open reads the block's object and unwraps what the owner key opens: the
// data key of a v1 block; the full key set of a v2 block and, from its
// sections, each poll's appliance time (times are only inside sections).
func (l *Licensor) open(ctx context.Context, blk *blockState) error {
	raw, err := l.object(ctx, blk.rec)
	if err != nil {
		return err
	}
	if blk.header.Version != format.HeaderV2 {
		obj, err := envelope.Parse(raw)
		if err != nil {
			return err
		}
		blk.dataKey, err = obj.DataKey(l.owner)
		return err
	}
	obj, err := envelope.ParseV2(raw)
	if err != nil {
		return err
	}
	ks, err := obj.KeySet(l.owner)
	if err != nil {
		return err
	}
	if blk.keys, err = keytree.ParseKeySet(ks); err != nil {
		return err
	}
	if l.codec == nil {
		if l.codec, err = envelope.NewCodec(); err != nil {
			return err
		}
	}
	blk.polls = make([]Poll, len(obj.Polls))
	for k, ps := range obj.Polls {
		if blk.polls[k], err = l.pollOf(obj, k, ps.Record, blk.keys); err != nil {
			return fmt.Errorf("poll %d: %w", k, err)
		}
	}
	return nil
}

// pollOf decrypts poll k of the object to learn its appliance time, and
// checks that its readings are the record's device and all of that time
// (ingest and the sealer make them so; a poll that is not is licensed to
// nobody rather than by a guess).
func (l *Licensor) pollOf(obj *envelope.ObjectV2, k int, record []byte, full []keytree.Node) (Poll, error) {
	rec, err := reading.DecodePoll(record)
	if err != nil {
		return Poll{}, err
	}
	key, ok := keytree.KeyOf(full, rec.DeviceID, rec.PollIndex)
	if !ok {
		return Poll{}, fmt.Errorf("the owner's key set does not cover poll %d of %q", rec.PollIndex, rec.DeviceID)
	}
	raw, err := obj.OpenPoll(l.codec, k, keytree.SectionKey(key))
	if err != nil {
		return Poll{}, err
	}
	if uint64(len(raw)) != rec.LastSeq-rec.FirstSeq+1 {
		return Poll{}, fmt.Errorf("%d readings for %d..%d", len(raw), rec.FirstSeq, rec.LastSeq)
	}
	p := Poll{Device: rec.DeviceID, Index: rec.PollIndex}
	for j, b := range raw {
		r, err := reading.Decode(b)
		if err != nil {
			return Poll{}, fmt.Errorf("reading %d: %w", rec.FirstSeq+uint64(j), err)
		}
		if r.DeviceID != rec.DeviceID || (j > 0 && r.ApplianceTime != p.Time) {
			return Poll{}, fmt.Errorf("reading %d is not of its poll's device and time", r.Seq)
		}
		p.Time = r.ApplianceTime
	}
	return p, nil
}

// object returns the block's encrypted object: the local copy while the
// store keeps it, else the one in storage (retention prunes the local copy
// of anchored blocks), checked against the block's object hash.
func (l *Licensor) object(ctx context.Context, b *store.BlockRecord) ([]byte, error) {
	raw, err := l.st.Object(b.Height)
	if err == nil {
		return raw, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if raw, err = l.storage.Get(ctx, b.Location); err != nil {
		return nil, fmt.Errorf("fetch object: %w", err)
	}
	if got := envelope.Hash(raw); got != b.ObjectHash {
		return nil, fmt.Errorf("object at %s hashes to %s, the block says %s", b.Location, got, b.ObjectHash)
	}
	return raw, nil
}

// grantCursor names the next block height examined for a grant.
func grantCursor(grantID string) string { return "grant/" + grantID }
