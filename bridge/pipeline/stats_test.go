package pipeline

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/aggregate"
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
