package modbus_test

import (
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/protocols/modbus"
)

// TestTimeoutThenResync delays one response past the timeout, waits until
// the late response has been sent, changes the value and polls again. The
// second poll must read the new value: a client that kept the connection
// would read the late answer (RTU has no transaction id to tell them apart)
// or fail on the transaction id mismatch (TCP).
func TestTimeoutThenResync(t *testing.T) {
	const timeout = 150 * time.Millisecond
	for _, transport := range []string{"tcp-gateway", "rtutcp", "rtu-pty"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			tb := startTestbed(t, transport)
			u := tb.sim.Unit(1)
			u.SetHolding(0, 111)
			points := []modbus.Point{{Name: "v", Register: "holding", Address: 0, Type: "uint16"}}
			src := tb.source(t, 1, timeout, points)
			checkGood(t, poll(t, src), "v", int64(111))

			u.SetHolding(0, 222)
			late := tb.gw.DelayNext(2 * timeout)
			start := time.Now()
			_, err := pollCtx(src, 5*time.Second)
			if err == nil || !strings.Contains(err.Error(), "timeout") {
				t.Fatalf("poll with a late response: %v, want a timeout", err)
			}
			if d := time.Since(start); d < timeout || d > timeout+200*time.Millisecond {
				t.Errorf("timed-out poll took %v with timeout %v", d, timeout)
			}
			select {
			case <-late:
			case <-time.After(5 * time.Second):
				t.Fatal("the late response was never sent")
			}
			time.Sleep(20 * time.Millisecond) // let it reach the client's side

			u.SetHolding(0, 333)
			for i := range 3 {
				got := poll(t, src)
				checkGood(t, got, "v", int64(333))
				if t.Failed() {
					t.Fatalf("poll %d after the timeout read a stale answer", i+1)
				}
			}
			if st := src.Stats(); !st.Connected {
				t.Errorf("stats %+v, want connected again", st)
			}
		})
	}
}
