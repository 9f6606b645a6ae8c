package verify

import (
	"context"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/block"
	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/ingest"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/ledger"
	"github.com/wotchain/wotchain/bridge/objstore"
	"github.com/wotchain/wotchain/bridge/outbox"
	"github.com/wotchain/wotchain/bridge/seal"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/protocols"
)

const appID = "app-1"

type chain struct {
	st      *store.Store
	in      *ingest.Ingester
	led     *ledger.Embedded
	fs      *objstore.FS
	priv    ed25519.PrivateKey
	owner   hpke.PrivateKey
	partner hpke.PrivateKey
	clock   time.Time
	lastSeq uint64
}

func genKey(t *testing.T, kemID uint16) hpke.PrivateKey {
	t.Helper()
	kem, err := hpke.NewKEM(kemID)
	if err != nil {
		t.Fatal(err)
	}
	k, err := kem.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// buildChain ingests polls of the given sizes, seals blocks of at most 5
// readings and drives them all to the ledger.
func buildChain(t *testing.T, sizes ...int) *chain {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(dir + "/db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	c := &chain{st: st, priv: priv, owner: genKey(t, keys.KEMX25519), partner: genKey(t, keys.KEMMLKEM768X25519), clock: time.Unix(1_700_000_000, 0)}
	if c.in, err = ingest.New(st, appID, priv, nil); err != nil {
		t.Fatal(err)
	}
	discard := slog.New(slog.DiscardHandler)
	c.led = ledger.NewEmbedded(st.Ledger(), "appliance", discard)
	id := c.led.Identity()
	if err := c.led.RegisterAppliance(context.Background(), rules.Appliance{ID: appID, PublicKey: pub, AnchorMSP: id.MSPID, AnchorID: id.ID}); err != nil {
		t.Fatal(err)
	}
	if c.fs, err = objstore.NewFS(dir + "/objects"); err != nil {
		t.Fatal(err)
	}
	c.ingest(t, sizes...)
	sl, err := seal.New(st, appID, priv, []hpke.PublicKey{c.owner.PublicKey(), c.partner.PublicKey()}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sl.Seal(true); err != nil {
		t.Fatal(err)
	}
	ob := outbox.New(st, c.fs, c.led, discard)
	for i := 0; ; i++ {
		busy, err := ob.Step(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !busy {
			break
		}
		if i > 100 {
			t.Fatal("outbox does not drain")
		}
	}
	return c
}

func (c *chain) ingest(t *testing.T, sizes ...int) {
	t.Helper()
	for i, n := range sizes {
		samples := make([]protocols.Sample, n)
		for j := range samples {
			samples[j] = protocols.Sample{Point: fmt.Sprintf("p%d", j), Value: float64(i) + float64(j)/10, Unit: "degC", Quality: protocols.Good}
		}
		c.clock = c.clock.Add(time.Second)
		_, last, err := c.in.Ingest(fmt.Sprintf("dev-%d", i%2), samples, c.clock)
		if err != nil {
			t.Fatal(err)
		}
		c.lastSeq = last
	}
}

func (c *chain) verifier(key hpke.PrivateKey) *Verifier {
	return &Verifier{Store: c.st, Ledger: c.led, Storage: c.fs, Key: key}
}

func names(rep *Report) []string {
	var out []string
	for _, ch := range rep.Checks {
		out = append(out, ch.Name)
	}
	return out
}

// failure returns the name of the failing check and asserts it ended the proof.
func failure(t *testing.T, rep *Report) string {
	t.Helper()
	if rep.OK() {
		t.Fatalf("reading %d verified despite tampering: %v", rep.Seq, names(rep))
	}
	for i, ch := range rep.Checks {
		if !ch.OK {
			if i != len(rep.Checks)-1 {
				t.Fatalf("checks continued after %q failed: %v", ch.Name, names(rep))
			}
			return ch.Name
		}
	}
	t.Fatal("report not OK but no check failed")
	return ""
}

var fullProof = []string{"reading", "block", "credential", "header signature", "stored object", "decrypt", "block contents", "poll signature", "merkle proof"}

func TestEveryReadingVerifies(t *testing.T) {
	c := buildChain(t, 3, 2, 4, 1, 5, 2) // 17 readings, several blocks
	if c.lastSeq != 17 {
		t.Fatalf("ingested up to %d", c.lastSeq)
	}
	last, err := c.st.LastBlock()
	if err != nil || last.Height < 2 || last.LastSeq != 17 {
		t.Fatalf("last block %+v, %v", last, err)
	}
	for _, key := range []hpke.PrivateKey{c.owner, c.partner} {
		v := c.verifier(key)
		for seq := uint64(1); seq <= c.lastSeq; seq++ {
			rep := v.Reading(context.Background(), seq)
			if !rep.OK() {
				t.Fatalf("reading %d: %+v", seq, rep.Checks)
			}
			if !slices.Equal(names(rep), fullProof) {
				t.Fatalf("reading %d checks %v, want %v", seq, names(rep), fullProof)
			}
			if rep.Reading == nil || rep.Reading.Seq != seq {
				t.Fatalf("report for %d carries reading %+v", seq, rep.Reading)
			}
		}
	}
}

func TestTamperingCaught(t *testing.T) {
	c := buildChain(t, 3, 2, 4)
	ctx := context.Background()
	rec, err := c.st.BlockForSeq(4)
	if err != nil {
		t.Fatal(err)
	}
	path := c.fs.Path(rec.ObjectHash)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	restore := func() {
		if err := os.WriteFile(path, orig, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	const seq = 4

	t.Run("object byte flipped", func(t *testing.T) {
		defer restore()
		for _, off := range []int{0, len(orig) / 2, len(orig) - 1} {
			b := slices.Clone(orig)
			b[off] ^= 1
			if err := os.WriteFile(path, b, 0o640); err != nil {
				t.Fatal(err)
			}
			if name := failure(t, c.verifier(c.owner).Reading(ctx, seq)); name != "stored object" {
				t.Fatalf("byte %d flipped: failing check %q, want stored object", off, name)
			}
		}
	})

	t.Run("object replaced by another valid object", func(t *testing.T) {
		defer restore()
		// A well-formed object for the same recipients with another header.
		h, _ := block.ParseHeader(rec.Header)
		h.SealedAt++
		hb, _ := h.Encode()
		o, _ := envelope.Parse(orig)
		body, err := o.Open(c.owner)
		if err != nil {
			t.Fatal(err)
		}
		forged, err := envelope.Seal(hb, block.SignHeader(c.priv, hb), body, []hpke.PublicKey{c.owner.PublicKey()})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, forged, 0o640); err != nil {
			t.Fatal(err)
		}
		if name := failure(t, c.verifier(c.owner).Reading(ctx, seq)); name != "stored object" && name != "decrypt" {
			t.Fatalf("failing check %q, want stored object or decrypt", name)
		}
	})

	t.Run("object deleted", func(t *testing.T) {
		defer restore()
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if name := failure(t, c.verifier(c.owner).Reading(ctx, seq)); name != "stored object" {
			t.Fatalf("failing check %q, want stored object", name)
		}
	})

	t.Run("verifier key not a recipient", func(t *testing.T) {
		stranger := genKey(t, keys.KEMX25519)
		if name := failure(t, c.verifier(stranger).Reading(ctx, seq)); name != "decrypt" {
			t.Fatalf("failing check %q, want decrypt", name)
		}
	})

	t.Run("reading not yet sealed", func(t *testing.T) {
		c.ingest(t, 2)
		rep := c.verifier(c.owner).Reading(ctx, c.lastSeq)
		if name := failure(t, rep); name != "block" {
			t.Fatalf("failing check %q, want block", name)
		}
		if !slices.Equal(names(rep), []string{"reading", "block"}) {
			t.Fatalf("checks %v", names(rep))
		}
	})

	t.Run("reading that does not exist", func(t *testing.T) {
		if name := failure(t, c.verifier(c.owner).Reading(ctx, 1000)); name != "reading" {
			t.Fatalf("failing check %q, want reading", name)
		}
	})

	// The untampered chain still verifies after every restore.
	for s := uint64(1); s <= 9; s++ {
		if rep := c.verifier(c.owner).Reading(ctx, s); !rep.OK() {
			t.Fatalf("reading %d after restoring: %+v", s, rep.Checks)
		}
	}
}

func TestSealedButNotAnchored(t *testing.T) {
	c := buildChain(t, 2)
	c.ingest(t, 3)
	sl, err := seal.New(c.st, appID, c.priv, []hpke.PublicKey{c.owner.PublicKey()}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sl.Seal(true); err != nil {
		t.Fatal(err)
	}
	rep := c.verifier(c.owner).Reading(context.Background(), c.lastSeq)
	if name := failure(t, rep); name != "credential" {
		t.Fatalf("failing check %q, want credential", name)
	}
}

func TestReportOK(t *testing.T) {
	if (&Report{}).OK() {
		t.Fatal("a report without checks is OK")
	}
	r := &Report{}
	r.pass("a", "")
	if !r.OK() {
		t.Fatal("all-pass report not OK")
	}
	r.fail("b", "")
	if r.OK() {
		t.Fatal("report with a failure OK")
	}
}
