package daemon

import (
	"testing"

	"github.com/wotchain/wotchain/appliance/httpapi"
	"github.com/wotchain/wotchain/bridge/aggregate"
	"github.com/wotchain/wotchain/bridge/license"
	"github.com/wotchain/wotchain/bridge/pipeline"
	"github.com/wotchain/wotchain/bridge/publish"
)

// The HTTP API's counters carry each consumer's progress, and nothing for
// a consumer that is not configured.
func TestPipelineCounters(t *testing.T) {
	c := pipelineCounters(pipeline.Stats{
		StorageErrors: 1, LedgerErrors: 2, LastAnchorError: "refused",
		MQTT:       &publish.Stats{Published: 9, AckedSeq: 40, Lag: 3, Connected: true, Errors: 4},
		Aggregate:  &aggregate.Stats{Emitted: 6, ProcessedSeq: 42, Lag: 1, Errors: 5},
		Deliveries: &pipeline.DeliveryStats{Stats: license.Stats{Delivered: 7, Grants: 2, NextHeight: 11}, Errors: 8},
	})
	if c.StorageErrors != 1 || c.LedgerErrors != 2 || c.LastAnchorError != "refused" {
		t.Fatalf("uplink counters %+v", c)
	}
	if m := c.MQTT; m == nil || m.Done != 9 || m.Position != 40 || m.Lag != 3 || m.Errors != 4 || m.Connected == nil || !*m.Connected {
		t.Fatalf("MQTT counters %+v", m)
	}
	if a := c.Aggregate; a == nil || a.Done != 6 || a.Position != 42 || a.Lag != 1 || a.Errors != 5 || a.Connected != nil {
		t.Fatalf("aggregate counters %+v", a)
	}
	if d := c.Deliveries; d == nil || *d != (httpapi.DeliveryCounters{Delivered: 7, Errors: 8, Grants: 2, NextHeight: 11}) {
		t.Fatalf("delivery counters %+v", d)
	}
	if off := pipelineCounters(pipeline.Stats{}); off.MQTT != nil || off.Aggregate != nil || off.Deliveries != nil {
		t.Fatalf("counters of consumers that are off: %+v", off)
	}
}
