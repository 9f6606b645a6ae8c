package license

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/devstatus"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/protocols"
)

// A partner granted a device over a window receives its status records of
// that window like its readings (they are its polls), and no other
// device's: the evidence of a gap reaches whoever is licensed the data.
func TestGrantDeliversStatusRecords(t *testing.T) {
	c := pipelinetest.New(t, pipelinetest.WithFormat(2), pipelinetest.WithMaxReadings(100))
	o := &outcome{chain: c, partner: pipelinetest.NewKey(t, keys.KEMX25519)}
	ctx := context.Background()
	t0 := time.Unix(1_700_000_000, 0)
	value := protocols.Sample{Point: "temp", Value: 20.5}
	c.IngestPoll(t, "press-1", t0, value)
	failing, _ := c.IngestPoll(t, "press-1", t0.Add(time.Second), devstatus.Sample(devstatus.PollFailing, "connection refused"))
	c.IngestPoll(t, "env-1", t0.Add(2*time.Second), devstatus.Sample(devstatus.Paused, "disk budget"))
	recovered, _ := c.IngestPoll(t, "press-1", t0.Add(5*time.Second), devstatus.Sample(devstatus.Recovered, "4 failed polls"))
	last, _ := c.IngestPoll(t, "press-1", t0.Add(5*time.Second), value)
	c.Seal(t)
	c.Drain(t)
	g := rules.Grant{ID: "g", ApplianceID: appID, PartnerMSP: partnerMSP, PartnerKEM: keys.KEMX25519,
		PartnerKey: o.partner.PublicKey().Bytes(), Devices: []string{"press-1"},
		From: t0.Add(500 * time.Millisecond).UnixNano(), To: t0.Add(10 * time.Second).UnixNano()}
	if _, _, err := c.Ledger.RecordGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	if _, err := New(c.Store, c.Ledger, c.Storage, c.Owner, appID, slog.New(slog.DiscardHandler)).Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(maps.Keys(o.decrypted(t, o.partner)))
	if want := []uint64{failing, recovered, last}; !slices.Equal(got, want) {
		t.Fatalf("the partner opens seqs %v, want %v (press-1's status records and reading in the window)", got, want)
	}
}
