package main

import (
	"context"
	"crypto/hpke"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/ingest"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/license"
	"github.com/wotchain/wotchain/bridge/objstore"
	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/bridge/verify"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// mapStorage is storage in memory, by location "mem:<name>".
type mapStorage map[string][]byte

func (m mapStorage) Put(_ context.Context, name string, data []byte) (string, error) {
	m["mem:"+name] = data
	return "mem:" + name, nil
}
func (m mapStorage) PutNamed(ctx context.Context, name string, data []byte) (string, error) {
	return m.Put(ctx, name, data)
}
func (m mapStorage) Get(_ context.Context, location string) ([]byte, error) {
	if b, ok := m[location]; ok {
		return b, nil
	}
	return nil, objstore.ErrNotFound
}
func (m mapStorage) Location(name string) string { return "mem:" + name }

type grantLedger []*rules.Grant

func (g grantLedger) ListGrants(_ context.Context, applianceID string, _ int, _ string) (*rules.GrantPage, error) {
	return &rules.GrantPage{Grants: g}, nil
}

// deliverDevice is the licensor's v2 delivery of one device's polls of a
// block, as stored.
func deliverDevice(t *testing.T, c *pipelinetest.Chain, rec *store.BlockRecord, device, grantID string, pub hpke.PublicKey) []byte {
	t.Helper()
	d, _ := c.Grant(t, rec, grantID, pub, func(p *reading.PollRecord) bool { return p.DeviceID == device })
	data, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func grantFor(id string, pub hpke.PublicKey) *rules.Grant {
	return &rules.Grant{ID: id, ApplianceID: pipelinetest.ApplianceID, PartnerKEM: pub.KEM().ID(), PartnerKey: pub.Bytes()}
}

// TestPartnerV2FetchAndDecrypt: fetch finds a v2 block's deliveries by the
// partner's grants on the ledger, and decrypt prints the granted polls'
// readings only (the owner: all of them).
func TestPartnerV2FetchAndDecrypt(t *testing.T) {
	c := pipelinetest.New(t, pipelinetest.WithMaxReadings(20))
	in, err := ingest.New(c.Store, c.ApplianceID, c.Key, nil, ingest.WithFormat(2))
	if err != nil {
		t.Fatal(err)
	}
	c.Ingester = in
	c.Anchor(t, 3, 2, 4, 1, 5)
	rec := c.Block(t, 0)
	if h, _ := format.ParseHeader(rec.Header); h.Version != format.HeaderV2 || rec.LastSeq != 15 {
		t.Fatalf("block 0: %+v", rec)
	}
	partner := pipelinetest.NewKey(t, keys.KEMX25519)
	other := pipelinetest.NewKey(t, keys.KEMX25519)
	kid := keys.KeyID(partner.PublicKey())
	st := mapStorage{}
	st[st.Location(envelope.DeliveryNameV2(kid, rec.BlockID, "g-dev0"))] = deliverDevice(t, c, rec, "dev-0", "g-dev0", partner.PublicKey())
	// Another partner's delivery under its own key id is never fetched.
	st[st.Location(envelope.DeliveryNameV2(keys.KeyID(other.PublicKey()), rec.BlockID, "g-other"))] = deliverDevice(t, c, rec, "dev-1", "g-other", other.PublicKey())
	grants := &partnerGrants{kid: kid, ledger: grantLedger{
		grantFor("g-dev0", partner.PublicKey()),
		grantFor("g-none", partner.PublicKey()), // no poll in this block: no delivery
		grantFor("g-other", other.PublicKey()),
	}}
	cred, err := c.Ledger.Credential(context.Background(), rec.BlockID)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	n, err := fetchDeliveries(context.Background(), st, grants, cred, kid, dir)
	if err != nil || n != 1 {
		t.Fatalf("fetched %d deliveries: %v", n, err)
	}
	obj, err := c.Store.Object(rec.Height)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blockFile(dir, rec.BlockID), obj, 0o640); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.key"))
	if len(files) != 1 || filepath.Base(files[0]) != rec.BlockID+".g-dev0.key" {
		t.Fatalf("delivery files %v", files)
	}
	gotObj, ds, err := openFetched(blockFile(dir, rec.BlockID))
	if err != nil || len(ds) != 1 || !slices.Equal(gotObj, obj) {
		t.Fatalf("openFetched: %d deliveries, %v", len(ds), err)
	}

	seqs := func(key hpke.PrivateKey) []uint64 {
		t.Helper()
		raws, err := decryptReadings(gotObj, ds, key)
		if err != nil {
			t.Fatal(err)
		}
		var out []uint64
		for _, raw := range raws {
			r, err := readingJSON(raw)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r["seq"].(uint64))
		}
		return out
	}
	var want, all []uint64
	for _, r := range c.Readings {
		all = append(all, r.Seq)
		if r.Device == "dev-0" {
			want = append(want, r.Seq)
		}
	}
	if got := seqs(partner); !slices.Equal(got, want) {
		t.Fatalf("partner decrypted %v, granted %v", got, want)
	}
	if got := seqs(c.Owner); !slices.Equal(got, all) {
		t.Fatalf("owner decrypted %v, want %v", got, all)
	}
	if _, err := decryptReadings(gotObj, ds, other); err == nil {
		t.Fatal("a third key decrypted with the partner's delivery")
	}
	if isRecipient(obj, partner) || !isRecipient(obj, c.Owner) {
		t.Fatal("isRecipient")
	}
}

// TestPartnerV2WithLicensor: the deliveries the licensor really writes for
// a grant of one device over a window that cuts the blocks are found by
// fetch, decrypt to exactly the granted readings, and each of them
// verifies as `verify --fetched` does. A third key opens nothing.
func TestPartnerV2WithLicensor(t *testing.T) {
	c := pipelinetest.New(t, pipelinetest.WithFormat(2), pipelinetest.WithMaxReadings(12),
		pipelinetest.WithDevices("press-1", "boiler-1", "env-1"))
	c.Anchor(t, 2, 3, 1, 2, 2, 3, 1, 2, 3, 2, 1, 2, 3, 2)
	ctx := context.Background()
	partner := pipelinetest.NewKey(t, keys.KEMX25519)
	third := pipelinetest.NewKey(t, keys.KEMX25519)
	from, to := c.Readings[4].At, c.Readings[len(c.Readings)-8].At
	g := rules.Grant{ID: "press-window", ApplianceID: c.ApplianceID, PartnerMSP: "PartnerMSP", Devices: []string{"press-1"},
		From: from.UnixNano(), To: to.UnixNano(), PartnerKEM: keys.KEMX25519, PartnerKey: partner.PublicKey().Bytes()}
	if _, _, err := c.Ledger.RecordGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	lic := license.New(c.Store, c.Ledger, c.Storage, c.Owner, c.ApplianceID, slog.New(slog.DiscardHandler))
	if n, err := lic.Deliver(ctx); err != nil || n == 0 {
		t.Fatalf("delivered %d: %v", n, err)
	}
	want := map[uint64]bool{}
	for _, r := range c.Readings {
		if r.Device == "press-1" && !r.At.Before(from) && !r.At.After(to) {
			want[r.Seq] = true
		}
	}
	got := map[uint64]bool{}
	last, err := c.Store.LastBlock()
	if err != nil {
		t.Fatal(err)
	}
	for h := uint64(0); h <= last.Height; h++ {
		rec := c.Block(t, h)
		cred, err := c.Ledger.Credential(ctx, rec.BlockID)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		for _, key := range []hpke.PrivateKey{partner, third} {
			kid := keys.KeyID(key.PublicKey())
			if _, err := fetchDeliveries(ctx, c.Storage, &partnerGrants{ledger: c.Ledger, kid: kid}, cred, kid, dir); err != nil {
				t.Fatal(err)
			}
		}
		obj, err := c.Storage.Get(ctx, cred.Location)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(blockFile(dir, rec.BlockID), obj, 0o640); err != nil {
			t.Fatal(err)
		}
		_, ds, err := openFetched(blockFile(dir, rec.BlockID))
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			continue // nothing granted in this block
		}
		if raws, err := decryptReadings(obj, ds, third); err == nil && len(raws) > 0 {
			t.Fatalf("block %d: a third key decrypted %d readings", h, len(raws))
		}
		raws, err := decryptReadings(obj, ds, partner)
		if err != nil {
			t.Fatal(err)
		}
		v := &verify.Verifier{Ledger: c.Ledger, Key: partner}
		for _, raw := range raws {
			r, err := reading.Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			got[r.Seq] = true
			if rep := v.Fetched(ctx, rec.BlockID, obj, ds, r.Seq); !rep.OK() {
				t.Fatalf("reading %d: %+v", r.Seq, rep.Checks)
			}
		}
	}
	if len(want) == 0 || len(want) == len(c.Readings) || !maps.Equal(got, want) {
		t.Fatalf("partner decrypted %d readings %v, granted %d %v", len(got), got, len(want), want)
	}
}
