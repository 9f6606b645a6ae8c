package httpapi

import (
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
)

// withConsumers serves counters of all three consumers: the MQTT
// publisher behind by lag readings, the aggregator caught up, and the
// licensor with grants that have examined blocks below next.
func withConsumers(position, lag, next uint64) func(*Options) {
	return func(o *Options) {
		connected := true
		o.Pipeline = PipelineFunc(func() PipelineCounters {
			return PipelineCounters{
				MQTT:       &ConsumerCounters{Done: 7, Position: position, Lag: lag, Errors: 3, Connected: &connected},
				Aggregate:  &ConsumerCounters{Done: 5, Position: position + lag, Errors: 1},
				Deliveries: &DeliveryCounters{Delivered: 4, Errors: 2, Grants: 2, NextHeight: next},
			}
		})
	}
}

func TestConsumerMetrics(t *testing.T) {
	e := newEnv(t, withConsumers(10, 6, 1), func(o *Options) { o.BlockFormat = 2 })
	anchored := 0
	if err := e.c.Store.Blocks(0, func(b *store.BlockRecord) (bool, error) {
		if b.State == store.Anchored {
			anchored++
		}
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, e)
	for _, c := range []struct {
		name string
		want float64
	}{
		{"wotchain_mqtt_published_total", 7}, {"wotchain_mqtt_errors_total", 3}, {"wotchain_mqtt_lag_readings", 6},
		{"wotchain_mqtt_connected", 1},
		{"wotchain_aggregate_windows_total", 5}, {"wotchain_aggregate_errors_total", 1}, {"wotchain_aggregate_lag_readings", 0},
		{"wotchain_aggregate_lag_seconds", 0},
		{"wotchain_license_deliveries_total", 4}, {"wotchain_license_delivery_errors_total", 2}, {"wotchain_license_grants", 2},
		{"wotchain_license_delivery_lag_blocks", float64(anchored - 1)},
	} {
		if got := value(t, fams, c.name, ""); got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	// The MQTT lag's age is that of reading 11, the first not acknowledged.
	raw, err := e.c.Store.Reading(11)
	if err != nil {
		t.Fatal(err)
	}
	age := value(t, fams, "wotchain_mqtt_lag_seconds", "")
	if want := time.Since(decodeTime(t, raw)).Seconds(); age <= 0 || age > want+1 || age < want-60 {
		t.Errorf("wotchain_mqtt_lag_seconds = %v, want about %v", age, want)
	}

	b := fams["wotchain_build_info"]
	if b == nil || len(b.Metric) != 1 || b.Metric[0].GetGauge().GetValue() != 1 {
		t.Fatalf("wotchain_build_info: %v", b)
	}
	labels := map[string]string{}
	for _, l := range b.Metric[0].Label {
		labels[l.GetName()] = l.GetValue()
	}
	if labels["goversion"] != runtime.Version() || labels["version"] == "" || labels["revision"] == "" || labels["block_format"] != "2" {
		t.Errorf("wotchain_build_info labels %v", labels)
	}
	// Without a block format given, the label says so rather than guess.
	for _, l := range scrape(t, newEnv(t))["wotchain_build_info"].Metric[0].Label {
		if l.GetName() == "block_format" && l.GetValue() != "unknown" {
			t.Errorf("block_format %q without a format, want unknown", l.GetValue())
		}
	}
}

// Without the consumers configured, their families are absent rather
// than zero: a dashboard then shows "no data", not a healthy zero lag.
func TestConsumerMetricsAbsentWhenOff(t *testing.T) {
	fams := scrape(t, newEnv(t))
	for name := range fams {
		for _, prefix := range []string{"wotchain_mqtt_", "wotchain_aggregate_", "wotchain_license_"} {
			if strings.HasPrefix(name, prefix) {
				t.Errorf("%s exported without its consumer", name)
			}
		}
	}
}

var metricName = regexp.MustCompile(`\b(?:wotchain|process|go)_[a-z0-9_]+\b`)

// TestGrafanaDashboard holds packaging/grafana/wotchain.json to the
// metrics the appliance exports: every metric a panel queries exists, and
// every wotchain metric is on some panel.
func TestGrafanaDashboard(t *testing.T) {
	data, err := os.ReadFile("../../packaging/grafana/wotchain.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	e := newEnv(t, withConsumers(10, 6, 1))
	e.srv.ObservePoll("boiler-1", 20*time.Millisecond, nil)
	e.srv.ObservePoll("boiler-1", time.Second, errors.New("timeout"))
	fams := scrape(t, e)

	used := map[string]bool{}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			names := metricName.FindAllString(tg.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: expression %q queries no metric", p.Title, tg.Expr)
			}
			for _, n := range names {
				if _, ok := fams[n]; ok {
					used[n] = true
					continue
				}
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
				if f, ok := fams[base]; ok && f.GetType() == dto.MetricType_HISTOGRAM {
					used[base] = true
					continue
				}
				t.Errorf("panel %q queries %s, which the appliance does not export", p.Title, n)
			}
		}
	}
	var missing []string
	for n := range fams {
		if strings.HasPrefix(n, "wotchain_") && !used[n] {
			missing = append(missing, n)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("no panel shows %v", missing)
	}
}

// decodeTime is a stored reading's appliance time.
func decodeTime(t *testing.T, raw []byte) time.Time {
	t.Helper()
	r, err := reading.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	return r.Time()
}
