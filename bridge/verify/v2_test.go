package verify

import (
	"bytes"
	"context"
	"crypto/hpke"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/ingest"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
)

// useV2 makes the chain's ingester write v2 polls from now on: an upgrade
// in place, the polls and blocks before it stay v1.
func useV2(t testing.TB, c *pipelinetest.Chain) {
	t.Helper()
	in, err := ingest.New(c.Store, c.ApplianceID, c.Key, nil, ingest.WithFormat(2))
	if err != nil {
		t.Fatal(err)
	}
	c.Ingester = in
}

func headerOf(t testing.TB, rec *store.BlockRecord) *format.Header {
	t.Helper()
	h, err := format.ParseHeader(rec.Header)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// deliverV1 is a v1 delivery: the block's data key for the partner.
func deliverV1(t testing.TB, c *pipelinetest.Chain, rec *store.BlockRecord, partner hpke.PublicKey) *envelope.Delivery {
	t.Helper()
	raw, err := c.Store.Object(rec.Height)
	if err != nil {
		t.Fatal(err)
	}
	o, err := envelope.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := o.DataKey(c.Owner)
	if err != nil {
		t.Fatal(err)
	}
	r, err := envelope.Wrap(o.Header, dk, partner)
	if err != nil {
		t.Fatal(err)
	}
	return &envelope.Delivery{Format: envelope.DeliveryFormat, BlockID: rec.BlockID, GrantID: "g-v1", Recipient: r}
}

func storedObject(t testing.TB, c *pipelinetest.Chain, rec *store.BlockRecord) []byte {
	t.Helper()
	raw, err := c.Store.Object(rec.Height)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

var fetchedProof = []string{"credential", "header signature", "signing key", "stored object", "decrypt", "block contents", "reading", "poll signature", "merkle proof"}

// v2Chain is an anchored chain of v2 blocks of at most 5 readings: polls of
// 3, 2, 4, 1, 5 and 2 readings from dev-0 and dev-1 in turn, a second
// apart, with a listed recipient (ML-KEM) besides the owner.
func v2Chain(t testing.TB) *pipelinetest.Chain {
	c := pipelinetest.New(t, pipelinetest.WithRecipient(keys.KEMMLKEM768X25519))
	useV2(t, c)
	c.Anchor(t, 3, 2, 4, 1, 5, 2)
	return c
}

func TestV2EveryReadingVerifies(t *testing.T) {
	c := v2Chain(t)
	ctx := context.Background()
	last, err := c.Store.LastBlock()
	if err != nil || last.LastSeq != 17 || last.Height < 2 {
		t.Fatalf("last block %+v, %v", last, err)
	}
	for h := uint64(0); h <= last.Height; h++ {
		if v := headerOf(t, c.Block(t, h)).Version; v != format.HeaderV2 {
			t.Fatalf("block %d has header version %d", h, v)
		}
	}
	for _, key := range []hpke.PrivateKey{c.Owner, c.Recipients[0]} {
		v := &Verifier{Store: c.Store, Ledger: c.Ledger, Storage: c.Storage, Key: key}
		for seq := uint64(1); seq <= 17; seq++ {
			rep := v.Reading(ctx, seq)
			if !rep.OK() || !slices.Equal(names(rep), fullProof) {
				t.Fatalf("reading %d: %+v", seq, rep.Checks)
			}
			if rep.Reading == nil || rep.Reading.Seq != seq {
				t.Fatalf("report for %d carries %+v", seq, rep.Reading)
			}
			// A listed recipient verifies the fetched object without deliveries.
			rec, _ := c.Store.BlockForSeq(seq)
			rep = v.Fetched(ctx, rec.BlockID, storedObject(t, c, rec), nil, seq)
			if !rep.OK() || !slices.Equal(names(rep), fetchedProof) || rep.Reading.Seq != seq {
				t.Fatalf("fetched reading %d: %+v", seq, rep.Checks)
			}
		}
	}
}

// TestV2PartnerOpensGrantedPollsOnly: a partner that is not a recipient
// verifies exactly the readings of the polls its deliveries cover.
func TestV2PartnerOpensGrantedPollsOnly(t *testing.T) {
	c := v2Chain(t)
	ctx := context.Background()
	partner := pipelinetest.NewKey(t, keys.KEMX25519)
	v := &Verifier{Ledger: c.Ledger, Key: partner}
	granted := map[uint64]bool{}
	last, _ := c.Store.LastBlock()
	for h := uint64(0); h <= last.Height; h++ {
		rec := c.Block(t, h)
		obj := storedObject(t, c, rec)
		// Two overlapping grants: dev-0's polls, and polls of 4 readings or more.
		g1, _ := c.Grant(t, rec, "g1", partner.PublicKey(), func(p *reading.PollRecord) bool { return p.DeviceID == "dev-0" })
		g2, _ := c.Grant(t, rec, "g2", partner.PublicKey(), func(p *reading.PollRecord) bool { return p.LastSeq-p.FirstSeq >= 3 })
		for seq := rec.FirstSeq; seq <= rec.LastSeq; seq++ {
			r := c.Readings[seq-1]
			p := c.Polls[slices.IndexFunc(c.Polls, func(p [2]uint64) bool { return seq >= p[0] && seq <= p[1] })]
			want := r.Device == "dev-0" || p[1]-p[0] >= 3
			rep := v.Fetched(ctx, rec.BlockID, obj, []*envelope.Delivery{g1, g2}, seq)
			if want {
				granted[seq] = true
				if !rep.OK() || !slices.Equal(names(rep), fetchedProof) || rep.Reading.Seq != seq || rep.Reading.DeviceID != r.Device {
					t.Fatalf("granted reading %d: %+v", seq, rep.Checks)
				}
				continue
			}
			if name := failure(t, rep); name != "decrypt" {
				t.Fatalf("reading %d not granted: failing check %q, want decrypt", seq, name)
			}
			if rep.Reading != nil {
				t.Fatalf("reading %d not granted, yet reported: %+v", seq, rep.Reading)
			}
			// Without any delivery the partner opens nothing.
			if name := failure(t, v.Fetched(ctx, rec.BlockID, obj, nil, seq)); name != "decrypt" {
				t.Fatalf("no delivery: failing check %q", name)
			}
		}
	}
	if len(granted) == 0 || len(granted) == 17 {
		t.Fatalf("%d of 17 readings granted: the test grants neither nothing nor everything", len(granted))
	}

	rec := c.Block(t, 0)
	other := c.Block(t, 1)
	d, _ := c.Grant(t, other, "g1", partner.PublicKey(), func(*reading.PollRecord) bool { return true })
	if name := failure(t, v.Fetched(ctx, rec.BlockID, storedObject(t, c, rec), []*envelope.Delivery{d}, rec.FirstSeq)); name != "decrypt" {
		t.Fatalf("another block's delivery: failing check %q", name)
	}
	// Another block's key set relabelled for this block does not unwrap: the
	// HPKE info binds it to its header.
	d.BlockID = rec.BlockID
	if name := failure(t, v.Fetched(ctx, rec.BlockID, storedObject(t, c, rec), []*envelope.Delivery{d}, rec.FirstSeq)); name != "decrypt" {
		t.Fatalf("relabelled delivery: failing check %q", name)
	}
}

func TestV2TamperingCaught(t *testing.T) {
	c := v2Chain(t)
	ctx := context.Background()
	rec, err := c.Store.BlockForSeq(4)
	if err != nil {
		t.Fatal(err)
	}
	v := &Verifier{Ledger: c.Ledger, Key: c.Owner}
	obj := storedObject(t, c, rec)
	for _, off := range []int{0, len(obj) / 2, len(obj) - 1} {
		b := slices.Clone(obj)
		b[off] ^= 1
		if name := failure(t, v.Fetched(ctx, rec.BlockID, b, nil, 4)); name != "stored object" {
			t.Fatalf("byte %d flipped: failing check %q", off, name)
		}
	}
	// A v1 delivery is no key for a v2 block.
	partner := pipelinetest.NewKey(t, keys.KEMX25519)
	d := &envelope.Delivery{Format: envelope.DeliveryFormat, BlockID: rec.BlockID, GrantID: "g"}
	if name := failure(t, (&Verifier{Ledger: c.Ledger, Key: partner}).Fetched(ctx, rec.BlockID, obj, []*envelope.Delivery{d}, 4)); name != "decrypt" {
		t.Fatalf("v1 delivery for a v2 block: failing check %q", name)
	}
}

// proverOf opens block rec as the HTTP API does.
func proverOf(t testing.TB, c *pipelinetest.Chain, rec *store.BlockRecord) *Prover {
	t.Helper()
	p, err := OpenProver(rec, storedObject(t, c, rec), c.Owner)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// viaJSON returns bundle b as a partner receives it.
func viaJSON(t testing.TB, b *ProofBundle) (*ProofBundle, map[string]json.RawMessage) {
	t.Helper()
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var out ProofBundle
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}
	return &out, fields
}

func TestV2ProofBundles(t *testing.T) {
	c := v2Chain(t)
	want := []string{"appliance_id", "block_id", "block_path", "decoded", "header", "header_signature", "height", "object_hash", "location", "poll", "poll_path", "poll_position", "reading", "salt", "seq", "state", "version"}
	slices.Sort(want)
	var orig *ProofBundle
	for seq := uint64(1); seq <= 17; seq++ {
		rec, err := c.Store.BlockForSeq(seq)
		if err != nil {
			t.Fatal(err)
		}
		b, err := proverOf(t, c, rec).Bundle(rec, seq)
		if err != nil {
			t.Fatal(err)
		}
		got, fields := viaJSON(t, b)
		var keys []string
		for k := range fields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, want) {
			t.Fatalf("reading %d: bundle fields %v, want %v", seq, keys, want)
		}
		r, err := VerifyProof(got, c.Public)
		if err != nil {
			t.Fatalf("reading %d: %v", seq, err)
		}
		if r.Seq != seq || r.DeviceID != c.Readings[seq-1].Device {
			t.Fatalf("reading %d verified as %+v", seq, r)
		}
		if seq == 7 { // the third reading of a 4-reading poll
			orig = got
		}
	}

	check := func(name, wantCheck string, tamper func(b *ProofBundle)) {
		t.Helper()
		b := *orig
		b.Salt = slices.Clone(orig.Salt)
		b.PollPath = slices.Clone(orig.PollPath)
		b.BlockPath = slices.Clone(orig.BlockPath)
		tamper(&b)
		_, err := VerifyProof(&b, c.Public)
		var pe *ProofError
		if err == nil {
			t.Fatalf("%s: verified", name)
		}
		if !errors.As(err, &pe) || pe.Check != wantCheck {
			t.Fatalf("%s: %v, want a %s failure", name, err, wantCheck)
		}
	}
	check("salt changed", "merkle proof", func(b *ProofBundle) { b.Salt[0] ^= 1 })
	check("salt missing", "reading", func(b *ProofBundle) { b.Salt = nil })
	check("poll path hash changed", "merkle proof", func(b *ProofBundle) { b.PollPath[0] = bytes.Repeat([]byte{1}, 32) })
	check("poll path shortened", "merkle proof", func(b *ProofBundle) { b.PollPath = b.PollPath[1:] })
	check("poll position moved", "merkle proof", func(b *ProofBundle) { b.PollPosition++ })
	check("block path dropped", "merkle proof", func(b *ProofBundle) { b.BlockPath = nil })
	check("version 1 claimed", "reading", func(b *ProofBundle) { b.Version = 0 })
	check("another poll's record", "poll signature", func(b *ProofBundle) {
		rec, _ := c.Store.BlockForSeq(1)
		other, _ := proverOf(t, c, rec).Bundle(rec, 1)
		b.Poll = other.Poll
	})
	check("header signature", "header signature", func(b *ProofBundle) {
		b.HeaderSignature = slices.Clone(b.HeaderSignature)
		b.HeaderSignature[0] ^= 1
	})
	check("reading value", "reading", func(b *ProofBundle) {
		r, _ := reading.Decode(b.Reading)
		_ = r.SetValue(123.0)
		b.Reading, _ = r.Encode()
	})
}

// TestUpgradedStoreVerifiesBothFormats: a v1 store is upgraded in place
// (same store, ingest switched to v2): its v1 blocks keep verifying next
// to the new v2 blocks, on the owner's path, a listed recipient's, a
// partner's with deliveries of either format, and through proof bundles.
func TestUpgradedStoreVerifiesBothFormats(t *testing.T) {
	c := pipelinetest.New(t, pipelinetest.WithRecipient(keys.KEMMLKEM768X25519))
	c.Anchor(t, 3, 2, 4)
	c.Ingest(t, 1) // a v1 poll left unsealed at the upgrade
	useV2(t, c)
	c.Anchor(t, 5, 2, 3)
	ctx := context.Background()
	partner := pipelinetest.NewKey(t, keys.KEMX25519)
	versions := map[uint8]int{}
	last, _ := c.Store.LastBlock()
	for h := uint64(0); h <= last.Height; h++ {
		rec := c.Block(t, h)
		hv := headerOf(t, rec).Version
		versions[hv]++
		obj := storedObject(t, c, rec)
		var ds []*envelope.Delivery
		if hv == format.HeaderV2 {
			d, _ := c.Grant(t, rec, "g", partner.PublicKey(), func(*reading.PollRecord) bool { return true })
			ds = append(ds, d)
		} else {
			ds = append(ds, deliverV1(t, c, rec, partner.PublicKey()))
		}
		prover := proverOf(t, c, rec)
		for seq := rec.FirstSeq; seq <= rec.LastSeq; seq++ {
			for _, key := range []hpke.PrivateKey{c.Owner, c.Recipients[0]} {
				v := &Verifier{Store: c.Store, Ledger: c.Ledger, Storage: c.Storage, Key: key}
				if rep := v.Reading(ctx, seq); !rep.OK() || !slices.Equal(names(rep), fullProof) {
					t.Fatalf("block %d (v%d) reading %d: %+v", h, hv, seq, rep.Checks)
				}
			}
			v := &Verifier{Ledger: c.Ledger, Key: partner}
			if rep := v.Fetched(ctx, rec.BlockID, obj, ds, seq); !rep.OK() || !slices.Equal(names(rep), fetchedProof) {
				t.Fatalf("block %d (v%d) fetched reading %d: %+v", h, hv, seq, rep.Checks)
			}
			b, err := prover.Bundle(rec, seq)
			if err != nil {
				t.Fatal(err)
			}
			if (b.Version == BundleV2) != (hv == format.HeaderV2) {
				t.Fatalf("block v%d gives a bundle of version %d", hv, b.Version)
			}
			got, fields := viaJSON(t, b)
			if _, v1 := fields["poll_leaf_hashes"]; v1 != (hv == format.HeaderV1) {
				t.Fatalf("block v%d: bundle fields %v", hv, fields)
			}
			if r, err := VerifyProof(got, c.Public); err != nil || r.Seq != seq {
				t.Fatalf("block %d (v%d) bundle of %d: %v", h, hv, seq, err)
			}
		}
	}
	if versions[format.HeaderV1] < 2 || versions[format.HeaderV2] < 2 {
		t.Fatalf("blocks per header version: %v", versions)
	}
}

// TestVerifierCodecReused: one Verifier proves readings of many v2 blocks
// with one section codec (it is made once, at the first v2 block).
func TestVerifierCodecReused(t *testing.T) {
	c := v2Chain(t)
	v := &Verifier{Store: c.Store, Ledger: c.Ledger, Storage: c.Storage, Key: c.Owner}
	if rep := v.Reading(context.Background(), 1); !rep.OK() {
		t.Fatal(rep.Checks)
	}
	codec := v.codec
	if rep := v.Reading(context.Background(), 17); !rep.OK() || codec == nil || v.codec != codec {
		t.Fatalf("codec %p then %p", codec, v.codec)
	}
}
