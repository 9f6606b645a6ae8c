// Package pipelinetest builds a real chain for tests: a RocksDB store, an
// appliance signing key, an owner HPKE key, filesystem storage, the
// embedded ledger with the appliance registered, an ingester, a sealer and
// an outbox, all in t.TempDir() and closed through t.Cleanup. Tests of
// license, verify, retention, outbox, seal, publish, aggregate and the HTTP
// API share it instead of each assembling its own copy.
//
// It is imported only by tests. Tests inside bridge/seal and bridge/outbox
// use it from their external test packages (seal_test, outbox_test), since
// this package imports both.
package pipelinetest

import (
	"context"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/ingest"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/keytree"
	"github.com/wotchain/wotchain/bridge/ledger"
	"github.com/wotchain/wotchain/bridge/normalise"
	"github.com/wotchain/wotchain/bridge/objstore"
	"github.com/wotchain/wotchain/bridge/outbox"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/seal"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/protocols"
)

// ApplianceID is the appliance every chain is built for.
const ApplianceID = "app-1"

// DefaultMaxReadings is the sealer's block size unless WithMaxReadings
// says otherwise: small, so a few polls make several blocks.
const DefaultMaxReadings = 5

// drainSteps bounds Drain: an outbox that is still busy after this many
// steps is stuck, not slow.
const drainSteps = 1000

// Reading is one reading as the test stored it.
type Reading struct {
	Seq           uint64
	Device, Point string
	At            time.Time
	Value         any
}

// Chain is the fixture. Its fields are the real components; the test may
// use them directly or through the helpers.
type Chain struct {
	Store    *store.Store
	Ingester *ingest.Ingester
	Sealer   *seal.Sealer
	Outbox   *outbox.Outbox
	Ledger   *ledger.Embedded
	Storage  *objstore.FS

	ApplianceID string
	Public      ed25519.PublicKey  // the appliance's signing key
	Key         ed25519.PrivateKey // its private half
	Owner       hpke.PrivateKey    // the owner, always a recipient of sealed blocks
	Recipients  []hpke.PrivateKey  // further recipients (WithRecipient), after the owner

	// Clock is the time of the last poll Ingest stored (the start before
	// the first).
	Clock time.Time
	// Polls holds the seq range of every poll stored through the fixture
	// (of every IngestPoll call: v2 ingest may split one into several).
	Polls [][2]uint64
	// Readings holds every reading stored through the fixture, in order.
	Readings []Reading

	devices []string
	cfg     config // what New built, for RotateKey
}

type config struct {
	maxReadings  int
	unregistered bool
	start        time.Time
	devices      []string
	recipients   []uint16
	committed    func(uint64)
	key          ed25519.PrivateKey
	format       int
	ledgerClock  func() time.Time
}

// Option changes what New builds.
type Option func(*config)

// WithMaxReadings sets the sealer's block size.
func WithMaxReadings(n int) Option { return func(c *config) { c.maxReadings = n } }

// WithUnregisteredAppliance leaves the appliance off the ledger, which
// then refuses its blocks.
func WithUnregisteredAppliance() Option { return func(c *config) { c.unregistered = true } }

// WithStart sets the clock Ingest advances from (by default
// time.Unix(1_700_000_000, 0)).
func WithStart(t time.Time) Option { return func(c *config) { c.start = t } }

// WithDevices sets the devices Ingest alternates between (by default
// dev-0 and dev-1).
func WithDevices(ids ...string) Option { return func(c *config) { c.devices = ids } }

// WithRecipient adds a recipient with a fresh key of the given KEM
// (keys.KEMX25519, keys.KEMMLKEM768X25519) to every sealed block.
func WithRecipient(kem uint16) Option {
	return func(c *config) { c.recipients = append(c.recipients, kem) }
}

// WithCommitted sets the ingester's committed callback, as the daemon wires
// the publisher and the aggregator.
func WithCommitted(fn func(lastSeq uint64)) Option { return func(c *config) { c.committed = fn } }

// WithApplianceKey sets the appliance's signing key instead of a fresh
// one (fixed keys make fuzz corpora stable).
func WithApplianceKey(key ed25519.PrivateKey) Option { return func(c *config) { c.key = key } }

// WithFormat sets the ingester's poll format (ingest.WithFormat): 2 writes
// v2 polls, which the sealer seals into v2 blocks.
func WithFormat(format int) Option { return func(c *config) { c.format = format } }

// WithLedgerClock sets the embedded ledger's transaction clock (anchoring,
// rotation and revocation times).
func WithLedgerClock(now func() time.Time) Option { return func(c *config) { c.ledgerClock = now } }

// New builds an empty chain in t.TempDir().
func New(t testing.TB, opts ...Option) *Chain {
	t.Helper()
	cfg := config{maxReadings: DefaultMaxReadings, start: time.Unix(1_700_000_000, 0), devices: []string{"dev-0", "dev-1"}}
	for _, o := range opts {
		o(&cfg)
	}
	if len(cfg.devices) == 0 {
		t.Fatal("pipelinetest: WithDevices without a device")
	}
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	priv := cfg.key
	if priv == nil {
		if _, priv, err = ed25519.GenerateKey(rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	pub := priv.Public().(ed25519.PublicKey)
	c := &Chain{Store: st, ApplianceID: ApplianceID, Public: pub, Key: priv, Owner: NewKey(t, keys.KEMX25519),
		Clock: cfg.start, devices: cfg.devices, cfg: cfg}
	for _, kem := range cfg.recipients {
		c.Recipients = append(c.Recipients, NewKey(t, kem))
	}
	if c.Storage, err = objstore.NewFS(filepath.Join(dir, "objects")); err != nil {
		t.Fatal(err)
	}
	discard := slog.New(slog.DiscardHandler)
	var ledgerOpts []ledger.Option
	if cfg.ledgerClock != nil {
		ledgerOpts = append(ledgerOpts, ledger.WithClock(cfg.ledgerClock))
	}
	c.Ledger = ledger.NewEmbedded(st.Ledger(), "appliance-"+ApplianceID, discard, ledgerOpts...)
	if !cfg.unregistered {
		id := c.Ledger.Identity()
		a := rules.Appliance{ID: ApplianceID, PublicKey: pub, AnchorMSP: id.MSPID, AnchorID: id.ID}
		if err := c.Ledger.RegisterAppliance(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	c.newSigners(t)
	c.Outbox = outbox.New(st, c.Storage, c.Ledger, discard)
	return c
}

// newSigners makes the ingester and the sealer, which sign with c.Key.
func (c *Chain) newSigners(t testing.TB) {
	t.Helper()
	var ingestOpts []ingest.Option
	if c.cfg.format != 0 {
		ingestOpts = append(ingestOpts, ingest.WithFormat(c.cfg.format))
	}
	var err error
	if c.Ingester, err = ingest.New(c.Store, c.ApplianceID, c.Key, c.cfg.committed, ingestOpts...); err != nil {
		t.Fatal(err)
	}
	c.Sealer = c.NewSealer(t, c.cfg.maxReadings)
}

// RotateKey gives the appliance a new signing key as a rotation does:
// everything ingested is sealed under the old key first, the ledger
// registers the new key from the next height, and the ingester and the
// sealer sign with the new key from then on. Blocks sealed before stay in
// the outbox, anchorable under the old key. It returns the new key's first
// height; Public and Key become the new key's.
func (c *Chain) RotateKey(t testing.TB) uint64 {
	t.Helper()
	c.Seal(t)
	var from uint64
	if last, err := c.Store.LastBlock(); err == nil {
		from = last.Height + 1
	} else if !store.IsNotFound(err) {
		t.Fatal(err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Ledger.RotateApplianceKey(context.Background(), c.ApplianceID, pub, from); err != nil {
		t.Fatal(err)
	}
	c.Public, c.Key = pub, priv
	c.newSigners(t)
	return from
}

// NewKey generates an HPKE key pair of the given KEM.
func NewKey(t testing.TB, kem uint16) hpke.PrivateKey {
	t.Helper()
	k, err := hpke.NewKEM(kem)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := k.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// RecipientKeys are the public keys blocks are sealed for: the owner's,
// then the others'.
func (c *Chain) RecipientKeys() []hpke.PublicKey {
	out := []hpke.PublicKey{c.Owner.PublicKey()}
	for _, k := range c.Recipients {
		out = append(out, k.PublicKey())
	}
	return out
}

// NewSealer makes another sealer of the chain (an appliance restart, or
// another block size).
func (c *Chain) NewSealer(t testing.TB, maxReadings int) *seal.Sealer {
	t.Helper()
	s, err := seal.New(c.Store, c.ApplianceID, c.Key, c.RecipientKeys(), maxReadings)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Ingest stores one poll per size, the devices alternating and the clock
// one second further each poll. Point j is "pj" in degC, valued the seq
// over four. It returns the last seq stored.
func (c *Chain) Ingest(t testing.TB, sizes ...int) uint64 {
	t.Helper()
	var last uint64
	for _, n := range sizes {
		next, err := c.Store.NextSeq()
		if err != nil {
			t.Fatal(err)
		}
		samples := make([]protocols.Sample, n)
		for j := range samples {
			samples[j] = protocols.Sample{Point: fmt.Sprintf("p%d", j), Value: float64(next+uint64(j)) / 4, Unit: "degC", Quality: protocols.Good}
		}
		c.Clock = c.Clock.Add(time.Second)
		var first uint64
		first, last = c.IngestPoll(t, c.devices[len(c.Polls)%len(c.devices)], c.Clock, samples...)
		if first != next {
			t.Fatalf("poll stored from seq %d, expected %d", first, next)
		}
	}
	return last
}

// IngestPoll stores one poll of device at the given time. With WithFormat(2)
// ingest splits samples of different appliance times (pushed values) into
// consecutive polls; Polls then holds the seq range of the call.
func (c *Chain) IngestPoll(t testing.TB, device string, at time.Time, samples ...protocols.Sample) (first, last uint64) {
	t.Helper()
	first, last, err := c.Ingester.Ingest(device, samples, at)
	if err != nil {
		t.Fatal(err)
	}
	c.Polls = append(c.Polls, [2]uint64{first, last})
	for j, s := range samples {
		// A pushed value (Received set) has its own appliance time.
		at := time.Unix(0, normalise.ApplianceTime(s, at))
		c.Readings = append(c.Readings, Reading{Seq: first + uint64(j), Device: device, Point: s.Point, At: at, Value: s.Value})
	}
	return first, last
}

// LastSeq is the seq of the last reading stored through the fixture, 0
// before the first.
func (c *Chain) LastSeq() uint64 {
	if len(c.Polls) == 0 {
		return 0
	}
	return c.Polls[len(c.Polls)-1][1]
}

// Seal seals everything ingested (flushing the last partial block) and
// returns the new blocks.
func (c *Chain) Seal(t testing.TB) []*store.BlockRecord {
	t.Helper()
	recs, err := c.Sealer.Seal(true)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// Step advances the outbox by one state change and says whether there
// was work.
func (c *Chain) Step(t testing.TB) bool {
	t.Helper()
	busy, err := c.Outbox.Step(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return busy
}

// Drain runs the outbox until every sealed block is anchored.
func (c *Chain) Drain(t testing.TB) {
	t.Helper()
	for i := 0; c.Step(t); i++ {
		if i > drainSteps {
			t.Fatal("outbox does not drain")
		}
	}
}

// Anchor ingests polls of the given sizes, seals them and anchors every
// block.
func (c *Chain) Anchor(t testing.TB, sizes ...int) {
	t.Helper()
	c.Ingest(t, sizes...)
	c.Seal(t)
	c.Drain(t)
}

// DropOldest drops the oldest sealed block through drop, which is
// retention's Pruner.DropOldest (retention's own tests import this package,
// so it cannot import retention), and returns the dropped block's record.
func (c *Chain) DropOldest(t testing.TB, drop func(excess uint64) ([]uint64, error)) *store.BlockRecord {
	t.Helper()
	dropped, err := drop(1)
	if err != nil || len(dropped) != 1 {
		t.Fatalf("dropped %v, %v", dropped, err)
	}
	return c.Block(t, dropped[0])
}

// Block reads the record of the block at height.
func (c *Chain) Block(t testing.TB, height uint64) *store.BlockRecord {
	t.Helper()
	rec, err := c.Store.Block(height)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// Grant is what the licensor hands a partner for one grant and one v2
// block (docs/block-format.md, key deliveries v2): the cover of the chosen polls, restricted from
// the owner's full key set, wrapped for the partner in a v2 delivery. keep
// chooses the polls by their record. It returns the delivery, read back
// from its stored bytes, and the number of polls chosen.
func (c *Chain) Grant(t testing.TB, rec *store.BlockRecord, grantID string, partner hpke.PublicKey, keep func(*reading.PollRecord) bool) (*envelope.Delivery, int) {
	t.Helper()
	raw, err := c.Store.Object(rec.Height)
	if err != nil {
		t.Fatal(err)
	}
	o, err := envelope.ParseV2(raw)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := o.KeySet(c.Owner)
	if err != nil {
		t.Fatal(err)
	}
	full, err := keytree.ParseKeySet(ks)
	if err != nil {
		t.Fatal(err)
	}
	byDevice := map[string][]uint64{}
	n := 0
	for _, ps := range o.Polls {
		p, err := reading.DecodePoll(ps.Record)
		if err != nil {
			t.Fatal(err)
		}
		if keep(p) {
			byDevice[p.DeviceID] = append(byDevice[p.DeviceID], p.PollIndex)
			n++
		}
	}
	var nodes []keytree.Node
	for d, ix := range byDevice {
		part, err := keytree.Restrict(full, d, ix)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, part...)
	}
	enc, err := keytree.EncodeKeySet(nodes)
	if err != nil {
		t.Fatal(err)
	}
	d, err := envelope.NewDeliveryV2(rec.Header, grantID, enc, partner)
	if err != nil {
		t.Fatal(err)
	}
	// Through its stored bytes, as a partner reads it.
	data, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if d, err = envelope.ParseDeliveryV2(data); err != nil {
		t.Fatal(err)
	}
	return d, n
}
