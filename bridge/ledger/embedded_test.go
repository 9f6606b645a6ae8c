package ledger

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"testing"

	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
)

const appID = "app-1"

type fixture struct {
	st   *store.Store
	led  *Embedded
	priv ed25519.PrivateKey
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	led := NewEmbedded(st.Ledger(), "appliance-"+appID, slog.New(slog.DiscardHandler))
	id := led.Identity()
	if id.MSPID != LocalMSP || !id.Admin {
		t.Fatalf("identity %+v", id)
	}
	if err := led.RegisterAppliance(context.Background(), rules.Appliance{ID: appID, PublicKey: pub, AnchorMSP: id.MSPID, AnchorID: id.ID}); err != nil {
		t.Fatal(err)
	}
	return &fixture{st: st, led: led, priv: priv}
}

// snapshot reads the whole committed ledger state.
func (f *fixture) snapshot(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	if err := f.st.Ledger().Scan("", "", func(k string, v []byte) (bool, error) {
		out[k] = string(v)
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func header(t *testing.T, height uint64, prev []byte, devices ...string) []byte {
	t.Helper()
	if len(devices) == 0 {
		devices = []string{"press"}
	}
	h := &format.Header{
		Version: format.HeaderV1, ApplianceID: appID, Height: height, PrevHash: prev,
		FirstSeq: height*10 + 1, LastSeq: height*10 + 10, Count: 10, FirstTime: 1, LastTime: 2,
		Devices: devices, MerkleRoot: make([]byte, 32), SealedAt: 3,
	}
	b, err := h.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *fixture) sub(hb []byte, obj int) format.Submission {
	return format.Submission{Header: hb, HeaderSig: format.SignHeader(f.priv, hb), ObjectHash: fmt.Sprintf("%064x", obj), Location: "fs:loc"}
}

func prevOf(hb []byte) []byte { b, _ := hex.DecodeString(format.BlockID(hb)); return b }

func TestAnchorAndRead(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	h0 := header(t, 0, nil)
	cred, recorded, err := f.led.Anchor(ctx, f.sub(h0, 1))
	if err != nil || !recorded {
		t.Fatalf("Anchor: recorded=%v err=%v", recorded, err)
	}
	got, err := f.led.Credential(ctx, cred.BlockID)
	if err != nil || got.ObjectHash != cred.ObjectHash || got.SignerID != "appliance-"+appID {
		t.Fatalf("Credential = %+v, %v", got, err)
	}
	if a, err := f.led.Appliance(ctx, appID); err != nil || a.ID != appID {
		t.Fatalf("Appliance = %+v, %v", a, err)
	}
	// Survives as committed state: a fresh Embedded over the same store sees it.
	again := NewEmbedded(f.st.Ledger(), "appliance-"+appID, slog.New(slog.DiscardHandler))
	if _, err := again.Credential(ctx, cred.BlockID); err != nil {
		t.Fatalf("credential not committed: %v", err)
	}
	if _, recorded, err := again.Anchor(ctx, f.sub(h0, 1)); err != nil || recorded {
		t.Fatalf("re-anchoring: recorded=%v err=%v", recorded, err)
	}
}

func TestFailingTransactionWritesNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	h0 := header(t, 0, nil)
	if _, _, err := f.led.Anchor(ctx, f.sub(h0, 1)); err != nil {
		t.Fatal(err)
	}
	before := f.snapshot(t)

	h1 := header(t, 1, prevOf(h0))
	// A device name that is valid in a header but not in a composite key
	// makes the contract fail after it has already written the credential
	// and the height index within the transaction.
	h1bad := header(t, 1, prevOf(h0), "press", "\U0010FFFF")
	otherReg := func() error {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		return f.led.RegisterAppliance(ctx, rules.Appliance{ID: "", PublicKey: pub, AnchorMSP: "x", AnchorID: "y"})
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	cases := []struct {
		name string
		run  func() error
		want error
	}{
		{"conflicting anchor", func() error { _, _, err := f.led.Anchor(ctx, f.sub(h0, 2)); return err }, rules.ErrConflict},
		{"broken chain", func() error {
			_, _, err := f.led.Anchor(ctx, f.sub(header(t, 1, prevOf(h1)), 3))
			return err
		}, rules.ErrBrokenChain},
		{"fails after partial writes", func() error { _, _, err := f.led.Anchor(ctx, f.sub(h1bad, 4)); return err }, rules.ErrInvalid},
		{"invalid registration", otherReg, rules.ErrInvalid},
		{"canceled context", func() error { _, _, err := f.led.Anchor(canceled, f.sub(h1, 5)); return err }, context.Canceled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.run(); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if after := f.snapshot(t); !maps.Equal(before, after) {
				t.Fatalf("failed transaction changed the ledger state: %d keys before, %d after", len(before), len(after))
			}
		})
	}
	// The proper block 1 still goes through afterwards.
	if _, recorded, err := f.led.Anchor(ctx, f.sub(h1, 6)); err != nil || !recorded {
		t.Fatalf("block 1: recorded=%v err=%v", recorded, err)
	}
}

func TestListingsThroughEmbedded(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var prev []byte
	for h := uint64(0); h < 5; h++ {
		hb := header(t, h, prev)
		if _, _, err := f.led.Anchor(ctx, f.sub(hb, int(h))); err != nil {
			t.Fatal(err)
		}
		prev = prevOf(hb)
	}
	var pages [][]uint64
	bookmark := ""
	for i := 0; i < 6; i++ {
		p, err := f.led.ListByAppliance(ctx, appID, 2, bookmark)
		if err != nil {
			t.Fatal(err)
		}
		var hs []uint64
		for _, c := range p.Credentials {
			hs = append(hs, c.Height)
		}
		pages = append(pages, hs)
		if bookmark = p.Bookmark; bookmark == "" {
			break
		}
	}
	if fmt.Sprint(pages) != "[[0 1] [2 3] [4]]" {
		t.Fatalf("pages %v", pages)
	}
	p, err := f.led.ListByDevice(ctx, "press", 0, 10, 3, "")
	if err != nil || len(p.Credentials) != 3 || p.Bookmark == "" {
		t.Fatalf("ListByDevice first page: %d, %q, %v", len(p.Credentials), p.Bookmark, err)
	}
	p, err = f.led.ListByDevice(ctx, "press", 0, 10, 3, p.Bookmark)
	if err != nil || len(p.Credentials) != 2 || p.Bookmark != "" || p.Credentials[0].Height != 3 {
		t.Fatalf("ListByDevice second page: %+v, %v", p, err)
	}
}

func TestAnchorBatch(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var hdrs [][]byte
	var prev []byte
	for h := range uint64(6) {
		hb := header(t, h, prev)
		hdrs = append(hdrs, hb)
		prev = prevOf(hb)
	}
	subs := func(from, to int) []format.Submission {
		var out []format.Submission
		for i := from; i < to; i++ {
			out = append(out, f.sub(hdrs[i], i))
		}
		return out
	}
	if _, _, err := f.led.Anchor(ctx, f.sub(hdrs[0], 0)); err != nil {
		t.Fatal(err)
	}
	out, err := f.led.AnchorBatch(ctx, subs(0, 3))
	if err != nil || len(out) != 3 {
		t.Fatalf("AnchorBatch: %d results, %v", len(out), err)
	}
	for i, want := range []bool{false, true, true} {
		if out[i].Recorded != want || out[i].Credential.Height != uint64(i) {
			t.Fatalf("result %d: recorded=%v height %d", i, out[i].Recorded, out[i].Credential.Height)
		}
	}
	again := NewEmbedded(f.st.Ledger(), "appliance-"+appID, slog.New(slog.DiscardHandler))
	if c, err := again.Credential(ctx, format.BlockID(hdrs[2])); err != nil || c.Height != 2 {
		t.Fatalf("batch not committed: %+v, %v", c, err)
	}

	before := f.snapshot(t)
	// Block 4 fails after the rules have written block 3 and part of block 4.
	bad := subs(3, 6)
	h4bad := header(t, 4, prevOf(hdrs[3]), "press", "\U0010FFFF")
	bad[1] = f.sub(h4bad, 4)
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	for _, c := range []struct {
		name string
		subs []format.Submission
		ctx  context.Context
		want error
	}{
		{"fails after partial writes", bad, ctx, rules.ErrInvalid},
		{"broken link in the middle", []format.Submission{f.sub(hdrs[3], 3), f.sub(header(t, 4, prevOf(hdrs[2])), 4)}, ctx, rules.ErrBrokenChain},
		{"conflict first", append([]format.Submission{f.sub(hdrs[2], 99)}, subs(3, 6)...), ctx, rules.ErrConflict},
		{"canceled context", subs(3, 6), canceled, context.Canceled},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := f.led.AnchorBatch(c.ctx, c.subs); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if after := f.snapshot(t); !maps.Equal(before, after) {
				t.Fatalf("refused batch changed the ledger state: %d keys before, %d after", len(before), len(after))
			}
		})
	}
	if out, err := f.led.AnchorBatch(ctx, subs(3, 6)); err != nil || len(out) != 3 || !out[2].Recorded {
		t.Fatalf("blocks 3..5: %+v, %v", out, err)
	}
}
