package license

import (
	"context"
	"crypto/hpke"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/keytree"
	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/protocols"
)

// deliveryBudget is issue #18's budget for one key delivery of a
// one-device grant over one block.
const deliveryBudget = 1024

// TestDeliveryBudget measures, through the licensor, the delivery of a
// one-device grant over a 25,000-reading block of 20 devices x 100 float
// points (the benchmark's block): over the whole block, and over a window
// that cuts the device's run of polls in the middle.
func TestDeliveryBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("ingests a 25,000-reading block")
	}
	devices := make([]string, 20)
	for i := range devices {
		devices[i] = fmt.Sprintf("device-%02d", i+1)
	}
	c := pipelinetest.New(t, pipelinetest.WithFormat(2), pipelinetest.WithMaxReadings(25_000))
	start := time.Unix(1_700_000_000, 0)
	samples := make([]protocols.Sample, 100)
	var times []time.Time
	for n := 0; n < 250; n++ { // 12.5 polls per device
		at := start.Add(time.Duration(n/20) * time.Second)
		for j := range samples {
			samples[j] = protocols.Sample{Point: fmt.Sprintf("p%03d", j), Value: float64(float32(n*100+j) / 7), Unit: "degC", Quality: protocols.Good}
		}
		c.IngestPoll(t, devices[n%20], at, samples...)
		if n%20 == 0 {
			times = append(times, at)
		}
	}
	recs := c.Seal(t)
	if len(recs) != 1 || recs[0].LastSeq-recs[0].FirstSeq+1 != 25_000 {
		t.Fatalf("sealed %d blocks, want one of 25,000 readings", len(recs))
	}
	c.Drain(t)
	partner := pipelinetest.NewKey(t, keys.KEMX25519)
	ctx := context.Background()
	grants := []rules.Grant{
		{ID: "whole", Devices: []string{"device-01"}, From: 0, To: 1 << 62},
		{ID: "cut", Devices: []string{"device-01"}, From: times[3].UnixNano(), To: times[9].UnixNano()},
	}
	for _, g := range grants {
		g.ApplianceID, g.PartnerMSP, g.PartnerKEM, g.PartnerKey = appID, "PartnerMSP", keys.KEMX25519, partner.PublicKey().Bytes()
		if _, _, err := c.Ledger.RecordGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	lic := New(c.Store, c.Ledger, c.Storage, c.Owner, appID, slog.New(slog.DiscardHandler))
	if n, err := lic.Deliver(ctx); err != nil || n != 2 {
		t.Fatalf("delivered %d, %v", n, err)
	}
	for _, g := range grants {
		name := envelope.DeliveryNameV2(keys.KeyID(partner.PublicKey()), recs[0].BlockID, g.ID)
		fi, err := os.Stat(c.Storage.Path(name))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("one-device grant %q over a 25,000-reading block of 20 devices x 100 points: delivery of %d bytes", g.ID, fi.Size())
		if fi.Size() > deliveryBudget {
			t.Errorf("grant %q: delivery of %d bytes, budget %d", g.ID, fi.Size(), deliveryBudget)
		}
	}
}

// TestDeliverySizeOnePointPolls reports the delivery of a one-device grant
// over a block of 25,000 one-point polls of 20 devices (1,250 polls of the
// device), over the whole block and over windows that cut it, at poll
// indices far from 0. The key set is a cover of a run of indices: at most
// about two nodes per tree level, so it grows with the log of the run.
func TestDeliverySizeOnePointPolls(t *testing.T) {
	var secret [32]byte
	tree := keytree.New(secret)
	const device = "device-01"
	base := uint64(1_000_003) // the device's polls before this block
	var all []uint64
	for i := range uint64(1250) {
		all = append(all, base+i)
	}
	full := tree.Cover(device, all)
	polls := make([]Poll, len(all))
	for i, p := range all {
		polls[i] = Poll{Device: device, Index: p, Time: int64(i)}
	}
	for _, kem := range []uint16{keys.KEMX25519, keys.KEMMLKEM768X25519} {
		partner := pipelinetest.NewKey(t, kem)
		for _, w := range []struct {
			name     string
			from, to int64
		}{{"whole block", 0, 1249}, {"window 1..1248", 1, 1248}, {"window 333..1000", 333, 1000}} {
			g := &rules.Grant{ID: "g", Devices: []string{device}, From: w.from, To: w.to}
			size := deliverySize(t, full, polls, Licensed(g, polls, 0), partner)
			t.Logf("KEM %#04x, 1,250 one-point polls of the device, %s: delivery of %d bytes", kem, w.name, size)
		}
	}
}

// deliverySize is the stored size of the delivery of the licensed polls,
// made as the licensor makes it (the header's bytes only enter through
// its fixed-size hash).
func deliverySize(t *testing.T, full []keytree.Node, polls []Poll, licensed []int, partner hpke.PrivateKey) int {
	t.Helper()
	nodes, err := grantKeys(full, polls, licensed)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keytree.EncodeKeySet(nodes)
	if err != nil {
		t.Fatal(err)
	}
	d, err := envelope.NewDeliveryV2([]byte("header"), "g", ks, partner.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	data, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return len(data)
}
