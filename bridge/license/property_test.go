package license

import (
	"context"
	"crypto/ed25519"
	"crypto/hpke"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/block"
	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/keytree"
	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/protocols"
)

// The licensing property (issue #18, property 1): over the union of its
// grants' deliveries, a partner decrypts exactly the readings whose device
// is granted, whose appliance time is in [from, to] and whose block was
// sealed before the grant's revocation, and each of them verifies against
// the anchored credential. A third organisation decrypts nothing.
//
// LICENSE_SEED=<n> replays one scenario.

// plannedPoll is one poll the scenario ingests.
type plannedPoll struct {
	device  string
	at      time.Time
	samples []protocols.Sample
}

// scenario is a random multi-device history cut into phases; after each
// phase everything is sealed and anchored, keys are delivered, and some
// grants are revoked, so revocations fall between blocks' seal times.
type scenario struct {
	seed        uint64
	devices     []string
	maxReadings int
	phases      [][]plannedPoll
	grants      []rules.Grant // for the partner, and some for another organisation
	revokeAfter map[string]int
	times       []int64
}

const (
	partnerMSP = "PartnerMSP"
	otherMSP   = "OtherMSP"
)

func newScenario(seed uint64) *scenario {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	s := &scenario{seed: seed, maxReadings: 1 + rng.IntN(40), revokeAfter: map[string]int{}}
	for i := range 1 + rng.IntN(5) {
		s.devices = append(s.devices, fmt.Sprintf("dev-%d", i+1))
	}
	clock := time.Unix(1_700_000_000, 0)
	steps := []time.Duration{0, 1, 1, time.Millisecond, time.Second, 3 * time.Second}
	for range 2 + rng.IntN(4) {
		var phase []plannedPoll
		for range 2 + rng.IntN(12) {
			clock = clock.Add(steps[rng.IntN(len(steps))])
			p := plannedPoll{device: s.devices[rng.IntN(len(s.devices))], at: clock}
			pushed := rng.IntN(4) == 0 // a subscription's values, some with their own times
			for j := range 1 + rng.IntN(20) {
				smp := protocols.Sample{Point: fmt.Sprintf("p%d", j), Value: float64(rng.IntN(1000)) / 8, Quality: protocols.Good}
				if pushed && rng.IntN(2) == 0 {
					smp.Received = clock.Add(-time.Duration(1+rng.IntN(3)) * time.Millisecond)
				}
				s.times = append(s.times, ingestTime(smp, clock))
				p.samples = append(p.samples, smp)
			}
			phase = append(phase, p)
		}
		s.phases = append(s.phases, phase)
	}
	slices.Sort(s.times)
	edge := func() int64 {
		// A reading's time, or a nanosecond either side: windows that cut
		// between polls of (almost) equal times, and inclusive bounds.
		return s.times[rng.IntN(len(s.times))] + int64(rng.IntN(3)-1)
	}
	for i := range 1 + rng.IntN(6) {
		g := rules.Grant{ID: fmt.Sprintf("g%d", i), ApplianceID: appID, PartnerMSP: partnerMSP, From: edge(), To: edge()}
		if g.To < g.From {
			g.From, g.To = g.To, g.From
		}
		switch rng.IntN(5) {
		case 0: // all devices
		case 1: // a device the appliance does not have, with one it has
			g.Devices = []string{"dev-9", s.devices[rng.IntN(len(s.devices))]}
		default:
			for _, d := range s.devices {
				if rng.IntN(2) == 0 {
					g.Devices = append(g.Devices, d)
				}
			}
			if len(g.Devices) == 0 {
				g.Devices = []string{s.devices[0]}
			}
		}
		if rng.IntN(6) == 0 {
			g.From, g.To = 0, 1<<62
		}
		if rng.IntN(5) < 2 {
			s.revokeAfter[g.ID] = rng.IntN(len(s.phases))
		}
		s.grants = append(s.grants, g)
	}
	// Another organisation's grant over everything: its deliveries sit in
	// the same storage, and the partner must not open them.
	s.grants = append(s.grants, rules.Grant{ID: "other", ApplianceID: appID, PartnerMSP: otherMSP, From: 0, To: 1 << 62})
	return s
}

func ingestTime(s protocols.Sample, at time.Time) int64 {
	if !s.Received.IsZero() {
		return s.Received.UnixNano()
	}
	return at.UnixNano()
}

// outcome is what a scenario produced: the chain, the grants as the ledger
// holds them (with their revocation times) and the partners' keys.
type outcome struct {
	chain   *pipelinetest.Chain
	partner hpke.PrivateKey
	other   hpke.PrivateKey
	third   hpke.PrivateKey
	grants  []*rules.Grant
}

// run plays the scenario with ingest format 1 or 2.
func (s *scenario) run(t *testing.T, ingestFormat int) *outcome {
	t.Helper()
	ctx := context.Background()
	c := pipelinetest.New(t, pipelinetest.WithFormat(ingestFormat), pipelinetest.WithDevices(s.devices...),
		pipelinetest.WithMaxReadings(s.maxReadings))
	o := &outcome{chain: c, partner: pipelinetest.NewKey(t, keys.KEMX25519), other: pipelinetest.NewKey(t, keys.KEMMLKEM768X25519),
		third: pipelinetest.NewKey(t, keys.KEMX25519)}
	for _, g := range s.grants {
		g.PartnerKEM, g.PartnerKey = keys.KEMX25519, o.partner.PublicKey().Bytes()
		if g.PartnerMSP == otherMSP {
			g.PartnerKEM, g.PartnerKey = keys.KEMMLKEM768X25519, o.other.PublicKey().Bytes()
		}
		if _, _, err := c.Ledger.RecordGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	discard := slog.New(slog.DiscardHandler)
	lic := New(c.Store, c.Ledger, c.Storage, c.Owner, appID, discard)
	rng := rand.New(rand.NewPCG(s.seed, 7))
	for i, phase := range s.phases {
		for _, p := range phase {
			c.IngestPoll(t, p.device, p.at, p.samples...)
			if rng.IntN(3) == 0 {
				if _, err := c.Sealer.Seal(false); err != nil { // full blocks only: blocks cut devices' runs
					t.Fatal(err)
				}
			}
		}
		c.Seal(t)
		c.Drain(t)
		if rng.IntN(2) == 0 {
			if rng.IntN(2) == 0 { // a restart: a new licensor resumes from the cursors
				lic = New(c.Store, c.Ledger, c.Storage, c.Owner, appID, discard)
			}
			if _, err := lic.Deliver(ctx); err != nil {
				t.Fatal(err)
			}
		}
		revoked := false
		for id, after := range s.revokeAfter {
			if after == i {
				if !revoked {
					time.Sleep(2 * time.Millisecond) // strictly after the phase's seal times
				}
				revoked = true
				if _, err := c.Ledger.RevokeGrant(ctx, appID, id); err != nil {
					t.Fatal(err)
				}
			}
		}
		if revoked {
			time.Sleep(2 * time.Millisecond) // the next phase's blocks are sealed strictly after
		}
	}
	if _, err := lic.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := lic.Deliver(ctx); err != nil || n != 0 {
		t.Fatalf("a second pass delivered %d, %v: examined blocks were examined again", n, err)
	}
	page, err := c.Ledger.ListGrants(ctx, appID, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range page.Grants {
		if g.PartnerMSP == partnerMSP {
			o.grants = append(o.grants, g)
		}
	}
	return o
}

// granted is the set of seqs the partner's grants license, computed from
// the readings as ingested, their blocks' seal times and the grants.
func (o *outcome) granted(t *testing.T) map[uint64]bool {
	t.Helper()
	out := map[uint64]bool{}
	for _, r := range o.chain.Readings {
		b, err := o.chain.Store.BlockForSeq(r.Seq)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range o.grants {
			if (len(g.Devices) == 0 || slices.Contains(g.Devices, r.Device)) &&
				g.From <= r.At.UnixNano() && r.At.UnixNano() <= g.To &&
				(g.RevokedAt == 0 || b.SealedAt < g.RevokedAt) {
				out[r.Seq] = true
			}
		}
	}
	return out
}

// decrypted is what key can decrypt: every delivery in storage (whoever it
// is for) is tried with it, and each reading it opens is verified against
// the anchored credential (object hash, header signature; for v2 the block
// root over the poll records and, per opened poll, the salted leaves, the
// poll root and the poll signature; for v1 the whole body) and compared
// with what was ingested.
func (o *outcome) decrypted(t *testing.T, key hpke.PrivateKey) map[uint64]bool {
	t.Helper()
	ctx := context.Background()
	c := o.chain
	app, err := c.Ledger.Appliance(ctx, appID)
	if err != nil {
		t.Fatal(err)
	}
	pub := ed25519.PublicKey(app.PublicKey)
	codec, err := envelope.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	ingested := map[uint64]pipelinetest.Reading{}
	for _, r := range c.Readings {
		ingested[r.Seq] = r
	}
	out := map[uint64]bool{}
	add := func(blockID string, seq uint64, device string, at int64) {
		want, ok := ingested[seq]
		if !ok || want.Device != device || want.At.UnixNano() != at {
			t.Fatalf("block %s: decrypted reading %d (%s at %d) is not the one ingested (%+v)", blockID, seq, device, at, want)
		}
		out[seq] = true
	}
	root := filepath.Join(c.Storage.Dir, "keys")
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && path == root {
			return fs.SkipDir
		}
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		name, _ := filepath.Rel(c.Storage.Dir, path)
		name = filepath.ToSlash(name)
		if dv2, err := envelope.ParseDeliveryV2(raw); err == nil {
			if want := envelope.DeliveryNameV2(dv2.Recipient.KeyID, dv2.BlockID, dv2.GrantID); name != want {
				t.Fatalf("delivery stored at %s, its name is %s", name, want)
			}
			obj, cred := o.fetch(t, dv2.BlockID, pub)
			v2, err := envelope.ParseV2(obj)
			if err != nil {
				t.Fatal(err)
			}
			ks, err := v2.OpenDeliveryV2(dv2, key)
			if err != nil {
				return nil // not for this key
			}
			nodes, err := keytree.ParseKeySet(ks)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			opened, err := block.OpenV2Partial(v2, nodes, pub, codec)
			if err != nil {
				t.Fatalf("%s: delivered keys open a block that does not verify: %v", name, err)
			}
			openedAny := false
			for _, p := range opened.Polls {
				for _, r := range p.Readings {
					add(cred.BlockID, r.Seq, r.DeviceID, r.ApplianceTime)
					openedAny = true
				}
			}
			if !openedAny {
				t.Fatalf("%s: a delivery that opens no poll", name)
			}
			return nil
		}
		d1, err := envelope.ParseDelivery(raw)
		if err != nil {
			t.Fatalf("%s: neither a v1 nor a v2 delivery: %v", name, err)
		}
		if want := envelope.DeliveryName(d1.Recipient.KeyID, d1.BlockID); name != want {
			t.Fatalf("delivery stored at %s, its name is %s", name, want)
		}
		obj, cred := o.fetch(t, d1.BlockID, pub)
		v1, err := envelope.Parse(obj)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := v1.OpenDelivered(d1, key)
		if err != nil {
			return nil // not for this key
		}
		body, err := block.ParseBody(plain)
		if err != nil {
			t.Fatal(err)
		}
		h, err := format.ParseHeader(cred.Header)
		if err != nil {
			t.Fatal(err)
		}
		opened, err := block.Open(h, body, pub)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, r := range opened.Readings {
			add(cred.BlockID, r.Seq, r.DeviceID, r.ApplianceTime)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// fetch returns a block's object as a partner gets it: the credential from
// the ledger, the object from its location, checked against the anchored
// hash, the header against the credential and its signature.
func (o *outcome) fetch(t *testing.T, blockID string, pub ed25519.PublicKey) ([]byte, *format.Credential) {
	t.Helper()
	ctx := context.Background()
	cred, err := o.chain.Ledger.Credential(ctx, blockID)
	if err != nil {
		t.Fatalf("block %s: %v", blockID, err)
	}
	obj, err := o.chain.Storage.Get(ctx, cred.Location)
	if err != nil {
		t.Fatal(err)
	}
	if envelope.Hash(obj) != cred.ObjectHash {
		t.Fatalf("block %s: object does not hash to the anchored hash", blockID)
	}
	if err := format.VerifyHeaderSig(pub, cred.Header, cred.HeaderSig); err != nil {
		t.Fatal(err)
	}
	hdr := objectHeader(t, obj)
	if string(hdr) != string(cred.Header) || format.BlockID(hdr) != blockID {
		t.Fatalf("block %s: object header is not the anchored one", blockID)
	}
	return obj, cred
}

func objectHeader(t *testing.T, obj []byte) []byte {
	t.Helper()
	f, err := envelope.FormatOf(obj)
	if err != nil {
		t.Fatal(err)
	}
	if f == envelope.FormatV2 {
		o, err := envelope.ParseV2(obj)
		if err != nil {
			t.Fatal(err)
		}
		return o.Header
	}
	o, err := envelope.Parse(obj)
	if err != nil {
		t.Fatal(err)
	}
	return o.Header
}

// opensNoObject checks that key is no recipient of any block.
func (o *outcome) opensNoObject(t *testing.T, key hpke.PrivateKey) {
	t.Helper()
	last, err := o.chain.Store.LastBlock()
	if err != nil {
		t.Fatal(err)
	}
	for h := uint64(0); h <= last.Height; h++ {
		raw, err := o.chain.Storage.Get(context.Background(), o.chain.Block(t, h).Location)
		if err != nil {
			t.Fatal(err)
		}
		if f, _ := envelope.FormatOf(raw); f == envelope.FormatV2 {
			obj, err := envelope.ParseV2(raw)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := obj.KeySet(key); !errors.Is(err, envelope.ErrNotRecipient) {
				t.Fatalf("block %d: a third key unwraps the key set: %v", h, err)
			}
			continue
		}
		obj, err := envelope.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := obj.Open(key); !errors.Is(err, envelope.ErrNotRecipient) {
			t.Fatalf("block %d: a third key opens it: %v", h, err)
		}
	}
}

// seeds returns the scenarios' seeds: LICENSE_SEED alone, or n from the clock.
func seeds(t *testing.T, n int) []uint64 {
	if s := os.Getenv("LICENSE_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return []uint64{v}
	}
	base := uint64(time.Now().UnixNano())
	out := make([]uint64, n)
	for i := range out {
		out[i] = base + uint64(i)
	}
	return out
}

func diff(a, b map[uint64]bool) []uint64 {
	var out []uint64
	for s := range a {
		if !b[s] {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

func TestPartnerDecryptsExactlyItsGrants(t *testing.T) {
	for _, seed := range seeds(t, 8) {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			t.Logf("seed %d (replay: LICENSE_SEED=%d)", seed, seed)
			s := newScenario(seed)
			o := s.run(t, 2)
			granted, got := o.granted(t), o.decrypted(t, o.partner)
			if extra, missing := diff(got, granted), diff(granted, got); len(extra)+len(missing) > 0 {
				t.Fatalf("partner decrypts %d readings not granted %v and misses %d granted %v (%d granted of %d)",
					len(extra), extra, len(missing), missing, len(granted), len(o.chain.Readings))
			}
			if third := o.decrypted(t, o.third); len(third) != 0 {
				t.Fatalf("a third organisation decrypts %d readings", len(third))
			}
			o.opensNoObject(t, o.third)
			o.opensNoObject(t, o.partner)
			t.Logf("%d devices, blocks of <= %d readings, %d readings, %d granted", len(s.devices), s.maxReadings, len(o.chain.Readings), len(granted))
		})
	}
}

// TestV1GrantsLeak plays the same scenarios with v1 blocks, whose one data
// key opens a whole block: the partner decrypts every reading granted and,
// in some scenario, readings it was not granted. That is the old
// block-granular licensing failing the property TestPartnerDecryptsExactlyItsGrants
// holds v2 to; this test asserts the failure so that the property test is
// known to be able to fail.
func TestV1GrantsLeak(t *testing.T) {
	leaked := 0
	for _, seed := range seeds(t, 8) {
		t.Logf("seed %d (replay: LICENSE_SEED=%d)", seed, seed)
		o := newScenario(seed).run(t, 1)
		granted, got := o.granted(t), o.decrypted(t, o.partner)
		if missing := diff(granted, got); len(missing) > 0 {
			t.Fatalf("seed %d: v1 partner misses granted readings %v", seed, missing)
		}
		if third := o.decrypted(t, o.third); len(third) != 0 {
			t.Fatalf("seed %d: a third organisation decrypts %d readings", seed, len(third))
		}
		extra := diff(got, granted)
		t.Logf("seed %d: v1 partner decrypts %d readings, %d of them not granted", seed, len(got), len(extra))
		leaked += len(extra)
	}
	if leaked == 0 && os.Getenv("LICENSE_SEED") == "" {
		t.Fatal("v1 licensing leaked nothing over these scenarios: the generator does not exercise the property")
	}
}
