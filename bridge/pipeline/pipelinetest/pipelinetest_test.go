package pipelinetest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/protocols"
)

func TestAnchorAnchorsEveryBlock(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	c := New(t, WithRecipient(keys.KEMMLKEM768X25519), WithDevices("a", "b", "c"), WithStart(start), WithMaxReadings(4))
	c.Anchor(t, 3, 2, 4)
	if c.LastSeq() != 9 || len(c.Readings) != 9 || len(c.Polls) != 3 || !c.Clock.Equal(start.Add(3*time.Second)) {
		t.Fatalf("last seq %d, %d readings, polls %v, clock %v", c.LastSeq(), len(c.Readings), c.Polls, c.Clock)
	}
	for i, r := range c.Readings {
		if r.Seq != uint64(i+1) {
			t.Fatalf("reading %d has seq %d", i, r.Seq)
		}
	}
	if c.Readings[0].Device != "a" || c.Readings[3].Device != "b" || c.Readings[5].Device != "c" {
		t.Fatalf("devices do not alternate: %+v", c.Readings)
	}
	last, err := c.Store.LastBlock()
	if err != nil || last.Height != 2 || last.LastSeq != 9 {
		t.Fatalf("last block %+v, %v; want 3 blocks of at most 4 readings", last, err)
	}
	for h := uint64(0); h <= last.Height; h++ {
		rec := c.Block(t, h)
		if rec.State != store.Anchored {
			t.Fatalf("block %d is %s", h, rec.State)
		}
		if _, err := c.Ledger.Credential(context.Background(), rec.BlockID); err != nil {
			t.Fatalf("block %d: %v", h, err)
		}
		obj, err := c.Store.Object(h)
		if err != nil {
			t.Fatal(err)
		}
		o, err := envelope.Parse(obj)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range append(c.Recipients, c.Owner) {
			if _, err := o.Open(k); err != nil {
				t.Fatalf("block %d not sealed for a recipient: %v", h, err)
			}
		}
	}
}

func TestUnregisteredApplianceRefused(t *testing.T) {
	c := New(t, WithUnregisteredAppliance())
	c.Ingest(t, 2)
	c.Seal(t)
	c.Step(t) // upload
	if _, err := c.Outbox.Step(context.Background()); !errors.Is(err, rules.ErrUnknownAppliance) {
		t.Fatalf("anchoring for an unregistered appliance: %v", err)
	}
}

func TestCommittedCallback(t *testing.T) {
	var got uint64
	c := New(t, WithCommitted(func(last uint64) { got = last }))
	if last := c.Ingest(t, 2, 3); last != 5 || got != 5 {
		t.Fatalf("Ingest returned %d, callback saw %d; want 5", last, got)
	}
}

func TestApplianceKey(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	c := New(t, WithApplianceKey(priv))
	c.Anchor(t, 1)
	rec := c.Block(t, 0)
	if !c.Public.Equal(pub) || format.VerifyHeaderSig(pub, rec.Header, rec.HeaderSig) != nil {
		t.Fatal("the chain does not sign with the given key")
	}
}

func TestWithFormat2SealsV2Blocks(t *testing.T) {
	c := New(t, WithFormat(2), WithMaxReadings(3))
	at := c.Clock.Add(time.Second)
	pushed := at.Add(-time.Millisecond)
	c.IngestPoll(t, "dev-0", at, protocols.Sample{Point: "a", Value: 1.0}, protocols.Sample{Point: "b", Value: 2.0, Received: pushed})
	c.Anchor(t, 2, 1)
	if got := c.Readings[1].At; !got.Equal(pushed) {
		t.Fatalf("pushed reading recorded at %v, want its received time %v", got, pushed)
	}
	last, err := c.Store.LastBlock()
	if err != nil {
		t.Fatal(err)
	}
	for h := uint64(0); h <= last.Height; h++ {
		rec := c.Block(t, h)
		hd, err := format.ParseHeader(rec.Header)
		if err != nil || hd.Version != format.HeaderV2 || rec.State != store.Anchored {
			t.Fatalf("block %d: version %v, %s, %v", h, hd, rec.State, err)
		}
		obj, _ := c.Store.Object(h)
		if f, err := envelope.FormatOf(obj); err != nil || f != envelope.FormatV2 {
			t.Fatalf("block %d object format %q, %v", h, f, err)
		}
	}
}
