package verify

import (
	"context"
	"strings"
	"testing"

	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
)

// Newest proves the newest reading of a point that is anchored, and says
// why the newer one is not provable yet: not sealed, or sealed and not
// anchored.
func TestNewestProvable(t *testing.T) {
	c := &chain{pipelinetest.New(t, pipelinetest.WithDevices("boiler"))}
	ctx := context.Background()
	now := int64(1 << 62)

	c.Ingest(t, 2, 2)
	if got, err := Newest(c.Store, "boiler", "p0", now); err != nil || got.Seq != 0 || got.Asked != 3 || !strings.Contains(got.Why, "reading 3 is not sealed yet") {
		t.Fatalf("nothing anchored: %+v, %v", got, err)
	}

	c.Anchor(t) // seq 1..4 anchored
	got, err := Newest(c.Store, "boiler", "p0", now)
	if err != nil || got != (Choice{Asked: 3, Seq: 3}) {
		t.Fatalf("newest anchored: %+v, %v", got, err)
	}

	c.Ingest(t, 2, 2, 2) // seq 5..10, p0 at 5, 7, 9
	c.Seal(t)
	c.Ingest(t, 2) // seq 11, 12 not sealed
	got, err = Newest(c.Store, "boiler", "p0", now)
	if err != nil || got.Asked != 11 || got.Seq != 3 || got.Why != "reading 11 is not sealed yet" {
		t.Fatalf("newest not sealed: %+v, %v", got, err)
	}
	if rep := c.verifier(c.Owner).Reading(ctx, got.Seq); !rep.OK() {
		t.Fatalf("reading %d: %+v", got.Seq, rep.Checks)
	}
	at9 := c.Readings[8].At.UnixNano()
	got, err = Newest(c.Store, "boiler", "p0", at9)
	if err != nil || got.Asked != 9 || got.Seq != 3 || !strings.Contains(got.Why, "reading 9 is in block 2, sealed but not anchored yet") {
		t.Fatalf("at %d, sealed not anchored: %+v, %v", at9, got, err)
	}

	c.Drain(t)
	if got, err = Newest(c.Store, "boiler", "p1", at9); err != nil || got != (Choice{Asked: 10, Seq: 10}) {
		t.Fatalf("after anchoring: %+v, %v", got, err)
	}
	if why, err := Pending(c.Store, 12); err != nil || why != "reading 12 is not sealed yet" {
		t.Fatalf("pending 12: %q, %v", why, err)
	}
}
