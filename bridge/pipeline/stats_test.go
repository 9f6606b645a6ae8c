package pipeline

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/aggregate"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/bridge/publish"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/internal/testserver"
)

// The consumers' statistics reach Stats, and a consumer's lag is what it
// has not processed: it grows while the consumer does not run and goes
// back to zero once it does.
func TestStatsCarryConsumersLag(t *testing.T) {
	w := newWorld(t, 1000, time.Hour)
	w.cfg.Aggregate = &aggregate.Config{}
	w.cfg.AggregateStateFile = filepath.Join(t.TempDir(), "aggregate.state")
	p := w.newPipeline(t)
	if s := p.Stats(); s.Aggregate == nil || s.Deliveries == nil || s.MQTT != nil {
		t.Fatalf("consumers in Stats: aggregate %v, deliveries %v, mqtt %v; want the two configured", s.Aggregate, s.Deliveries, s.MQTT)
	}
	storePolls(t, p, 4, 3) // the consumers are not running yet
	if s := p.Stats(); s.Aggregate.Lag != 12 {
		t.Fatalf("aggregator lag %d before it runs, want 12", s.Aggregate.Lag)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	testserver.WaitFor(t, 10*time.Second, "the aggregator caught up", func() bool { return p.Stats().Aggregate.Lag == 0 })
	if s := p.Stats(); s.Aggregate.ProcessedSeq != 12 || s.Deliveries.Errors != 0 {
		t.Fatalf("after catching up: aggregate %+v, deliveries %+v", s.Aggregate, s.Deliveries)
	}
}

// The MQTT publisher's and the licensor's statistics through the
// pipeline: the readings stored before the publisher runs are its lag,
// all of them are published once it runs, every anchored block of a
// granted device gets its key delivery, and the lag grows again (with
// errors counted) while the broker is down, until it is back.
func TestStatsCarryPublisherAndDeliveries(t *testing.T) {
	m := testserver.StartMosquitto(t)
	w := newWorld(t, 1000, 50*time.Millisecond)
	w.cfg.MQTT = &publish.Config{Broker: "mqtt://" + m.Addr, ConnectTimeout: publish.Duration(time.Second),
		AckTimeout: publish.Duration(time.Second), MaxReconnectDelay: publish.Duration(200 * time.Millisecond)}
	partner := pipelinetest.NewKey(t, keys.KEMX25519)
	if _, _, err := w.led.RecordGrant(context.Background(), rules.Grant{ID: "g", ApplianceID: w.cfg.ApplianceID,
		PartnerMSP: "PartnerMSP", PartnerKEM: keys.KEMX25519, PartnerKey: partner.PublicKey().Bytes(),
		Devices: []string{"press-1"}, From: time.Now().Add(-time.Hour).UnixNano(), To: time.Now().Add(time.Hour).UnixNano()}); err != nil {
		t.Fatal(err)
	}
	p := w.newPipeline(t)
	storePolls(t, p, 4, 3) // the publisher is not running yet
	if s := p.Stats(); s.MQTT == nil || s.MQTT.Lag != 12 || s.MQTT.Published != 0 || s.Deliveries.Delivered != 0 {
		t.Fatalf("before running: mqtt %+v, deliveries %+v", s.MQTT, s.Deliveries)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	testserver.WaitFor(t, 20*time.Second, "all readings published and every anchored block delivered", func() bool {
		s := p.Stats()
		return s.MQTT.Lag == 0 && s.BlocksAnchored > 0 && s.Deliveries.Delivered == s.BlocksAnchored && s.Deliveries.NextHeight > 0
	})
	s := p.Stats()
	if s.MQTT.Published != 12 || s.MQTT.AckedSeq != 12 || !s.MQTT.Connected || s.Deliveries.Grants != 1 || s.Deliveries.Errors != 0 {
		t.Fatalf("after catching up: mqtt %+v, deliveries %+v", s.MQTT, s.Deliveries)
	}

	m.Stop(t)
	storePolls(t, p, 2, 3)
	testserver.WaitFor(t, 20*time.Second, "the publisher's lag and errors grow while the broker is down", func() bool {
		s := p.Stats()
		return s.MQTT.Lag == 6 && s.MQTT.Errors > 0 && !s.MQTT.Connected
	})
	m.Restart(t)
	testserver.WaitFor(t, 20*time.Second, "the publisher caught up after the broker came back", func() bool {
		s := p.Stats()
		return s.MQTT.Lag == 0 && s.MQTT.AckedSeq == 18
	})
}
