package modbus_test

import (
	"testing"
	"time"
)

// TestEveryTypeAndOrderOnTheWire reads every register type in every byte
// order, scaled values, register bits, strings, coils and discrete inputs
// from the simulator over each transport, and checks that the layout is read
// in one request per table.
func TestEveryTypeAndOrderOnTheWire(t *testing.T) {
	for _, transport := range transports(t) {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			tb := startTestbed(t, transport)
			layout := fullLayout()
			load(tb.sim.Unit(1), layout)
			src := tb.source(t, 1, time.Second, pointsOf(layout))
			checkLayout(t, src, layout)
			if st := src.Stats(); st.RequestsLastPoll != 4 || !st.Connected {
				t.Errorf("stats %+v, want 4 requests (one per table) and connected", st)
			}
			got := tb.sim.Requests()
			if len(got) != 4 {
				t.Fatalf("simulator served %d requests, want 4: %+v", len(got), got)
			}
			for _, r := range got {
				if r.Unit != 1 || r.Addr != 0 {
					t.Errorf("request %+v, want unit 1 from address 0", r)
				}
			}
		})
	}
}
