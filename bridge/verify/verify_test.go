package verify

import (
	"context"
	"crypto/hpke"
	"os"
	"slices"
	"testing"

	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/chaincode/format"
)

const appID = pipelinetest.ApplianceID

// buildChain ingests polls of the given sizes, seals blocks of at most 5
// readings for the owner and a partner (ML-KEM) and drives them all to the
// ledger.
func buildChain(t *testing.T, sizes ...int) *chain {
	t.Helper()
	c := &chain{pipelinetest.New(t, pipelinetest.WithRecipient(keys.KEMMLKEM768X25519))}
	c.Anchor(t, sizes...)
	return c
}

type chain struct{ *pipelinetest.Chain }

func (c *chain) partner() hpke.PrivateKey { return c.Recipients[0] }

func (c *chain) verifier(key hpke.PrivateKey) *Verifier {
	return &Verifier{Store: c.Store, Ledger: c.Ledger, Storage: c.Storage, Key: key}
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

var fullProof = []string{"reading", "block", "credential", "header signature", "signing key", "stored object", "decrypt", "block contents", "poll signature", "merkle proof"}

func TestEveryReadingVerifies(t *testing.T) {
	c := buildChain(t, 3, 2, 4, 1, 5, 2) // 17 readings, several blocks
	if c.LastSeq() != 17 {
		t.Fatalf("ingested up to %d", c.LastSeq())
	}
	last, err := c.Store.LastBlock()
	if err != nil || last.Height < 2 || last.LastSeq != 17 {
		t.Fatalf("last block %+v, %v", last, err)
	}
	for _, key := range []hpke.PrivateKey{c.Owner, c.partner()} {
		v := c.verifier(key)
		for seq := uint64(1); seq <= c.LastSeq(); seq++ {
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
	rec, err := c.Store.BlockForSeq(4)
	if err != nil {
		t.Fatal(err)
	}
	path := c.Storage.Path(rec.ObjectHash)
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
			if name := failure(t, c.verifier(c.Owner).Reading(ctx, seq)); name != "stored object" {
				t.Fatalf("byte %d flipped: failing check %q, want stored object", off, name)
			}
		}
	})

	t.Run("object replaced by another valid object", func(t *testing.T) {
		defer restore()
		// A well-formed object for the same recipients with another header.
		h, _ := format.ParseHeader(rec.Header)
		h.SealedAt++
		hb, _ := h.Encode()
		o, _ := envelope.Parse(orig)
		body, err := o.Open(c.Owner)
		if err != nil {
			t.Fatal(err)
		}
		forged, err := envelope.Seal(hb, format.SignHeader(c.Key, hb), body, []hpke.PublicKey{c.Owner.PublicKey()})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, forged, 0o640); err != nil {
			t.Fatal(err)
		}
		if name := failure(t, c.verifier(c.Owner).Reading(ctx, seq)); name != "stored object" && name != "decrypt" {
			t.Fatalf("failing check %q, want stored object or decrypt", name)
		}
	})

	t.Run("object deleted", func(t *testing.T) {
		defer restore()
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if name := failure(t, c.verifier(c.Owner).Reading(ctx, seq)); name != "stored object" {
			t.Fatalf("failing check %q, want stored object", name)
		}
	})

	t.Run("verifier key not a recipient", func(t *testing.T) {
		stranger := pipelinetest.NewKey(t, keys.KEMX25519)
		if name := failure(t, c.verifier(stranger).Reading(ctx, seq)); name != "decrypt" {
			t.Fatalf("failing check %q, want decrypt", name)
		}
	})

	t.Run("reading not yet sealed", func(t *testing.T) {
		c.Ingest(t, 2)
		rep := c.verifier(c.Owner).Reading(ctx, c.LastSeq())
		if name := failure(t, rep); name != "block" {
			t.Fatalf("failing check %q, want block", name)
		}
		if !slices.Equal(names(rep), []string{"reading", "block"}) {
			t.Fatalf("checks %v", names(rep))
		}
	})

	t.Run("reading that does not exist", func(t *testing.T) {
		if name := failure(t, c.verifier(c.Owner).Reading(ctx, 1000)); name != "reading" {
			t.Fatalf("failing check %q, want reading", name)
		}
	})

	// The untampered chain still verifies after every restore.
	for s := uint64(1); s <= 9; s++ {
		if rep := c.verifier(c.Owner).Reading(ctx, s); !rep.OK() {
			t.Fatalf("reading %d after restoring: %+v", s, rep.Checks)
		}
	}
}

func TestSealedButNotAnchored(t *testing.T) {
	c := buildChain(t, 2)
	c.Ingest(t, 3)
	c.Seal(t)
	rep := c.verifier(c.Owner).Reading(context.Background(), c.LastSeq())
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
