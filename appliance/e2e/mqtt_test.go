package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/bridge/aggregate"
	"github.com/wotchain/wotchain/bridge/publish"
	"github.com/wotchain/wotchain/internal/testserver"
)

// TestLiveFlowAndAggregates runs the appliance with MQTT publishing and
// 2-second aggregation windows: a subscriber receives every stored
// reading of a device in sequence order, each message matches the signed
// reading in the store, and the aggregates are stored as readings that
// verify end to end and are served over HTTP.
func TestLiveFlowAndAggregates(t *testing.T) {
	broker := testserver.StartMosquitto(t)
	var mu sync.Mutex
	var got []*publish.Message
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + broker.Addr).SetClientID("e2e-subscriber"))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	defer sub.Disconnect(100)
	if tok := sub.Subscribe("wotchain/e2e-appliance/press-1/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		var msg publish.Message
		if err := json.Unmarshal(m.Payload(), &msg); err == nil {
			mu.Lock()
			got = append(got, &msg)
			mu.Unlock()
		}
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, 30, "1s", fmt.Sprintf(`mqtt:
  broker: mqtt://%s
aggregate:
  windows: [2s]
  grace: 500ms
`, broker.Addr))
	p := start(t, cfgPath)
	// Several 2 s windows close in about 6 s of readings (~60 per second).
	p.waitFor(t, "six seconds of readings", 60*time.Second, func(a uint64, _ int) bool { return a > 350 })
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	code, body := get(t, "http://"+cfg.HTTP.Listen+"/api/aggregates?device=press-1&point=temperature&window=2s")
	if code != 200 || !strings.Contains(body, `"mean"`) {
		t.Fatalf("/api/aggregates: %d %s", code, body)
	}
	if code, body := get(t, "http://"+cfg.HTTP.Listen+"/api/aggregates?device=press-1&point=temperature&window=soon"); code != 400 || !strings.Contains(body, "window") {
		t.Fatalf("/api/aggregates with a bad window: %d %s", code, body)
	}
	p.stop(t)
	time.Sleep(500 * time.Millisecond) // last deliveries in flight to the subscriber

	n := openNode(t, cfgPath)
	mu.Lock()
	defer mu.Unlock()
	if len(got) < 20 {
		t.Fatalf("subscriber received %d messages of press-1", len(got))
	}
	var last uint64
	for _, m := range got {
		if m.Seq <= last {
			t.Fatalf("message %d after %d: out of order or repeated", m.Seq, last)
		}
		last = m.Seq
		if err := m.Verify(); err != nil {
			t.Fatal(err)
		}
		stored, err := n.Store.Reading(m.Seq)
		if err != nil || !bytes.Equal(stored, m.Canonical) {
			t.Fatalf("message %d is not the stored reading: %v", m.Seq, err)
		}
	}
	// Every press-1 reading up to the last one received was published: no gaps.
	count := 0
	for seq := got[0].Seq; seq <= last; seq++ {
		raw, _ := n.Store.Reading(seq)
		if bytes.Contains(raw, []byte("press-1")) && !bytes.Contains(raw, []byte("agg.press-1")) {
			count++
		}
	}
	if count != len(got) {
		t.Fatalf("%d press-1 readings stored in the received range, %d messages", count, len(got))
	}
	// Aggregates are readings like any other: stored, sealed, anchored, verified.
	per := verifyAll(t, n)
	if per["agg.press-1"] == 0 {
		t.Fatalf("no verified aggregate readings: %v", per)
	}
	windows, err := aggregate.Query(t.Context(), n.Store, aggregate.Request{Device: "press-1", Point: "temperature", Window: 2 * time.Second, To: time.Now()})
	if err != nil || len(windows) == 0 {
		t.Fatalf("aggregate query: %d windows, %v", len(windows), err)
	}
	if !strings.Contains(fmt.Sprint(windows[0].Values), "mean") {
		t.Fatalf("window without a mean: %+v", windows[0])
	}
}
