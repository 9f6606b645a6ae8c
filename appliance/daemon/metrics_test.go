package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/wotchain/wotchain/appliance/httpapi"
	"github.com/wotchain/wotchain/bridge/aggregate"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/pipeline"
	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/internal/testserver"
	"github.com/wotchain/wotchain/protocols"
)

// scrapeMetrics fetches /metrics from h and returns each unlabelled
// family's value, and wotchain_build_info's labels.
func scrapeMetrics(t *testing.T, h http.Handler) (map[string]float64, map[string]string) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", w.Code, w.Body)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	vals, info := map[string]float64{}, map[string]string{}
	for name, f := range fams {
		if len(f.Metric) != 1 {
			continue
		}
		m := f.Metric[0]
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			vals[name] = m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			vals[name] = m.GetGauge().GetValue()
		}
		if name == "wotchain_build_info" {
			for _, l := range m.Label {
				info[l.GetName()] = l.GetValue()
			}
		}
	}
	return vals, info
}

// The metrics of a running pipeline as the daemon wires them: the
// aggregator's lag (readings and age) while it does not run, its windows
// and a zero lag once it ran, and a key delivery for every anchored block
// of a granted device.
func TestMetricsOfARunningPipeline(t *testing.T) {
	c := pipelinetest.New(t)
	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Minute)
	partner := pipelinetest.NewKey(t, keys.KEMX25519)
	if _, _, err := c.Ledger.RecordGrant(context.Background(), rules.Grant{ID: "g", ApplianceID: c.ApplianceID,
		PartnerMSP: "PartnerMSP", PartnerKEM: keys.KEMX25519, PartnerKey: partner.PublicKey().Bytes(),
		Devices: []string{"press-1"}, From: t0.Add(-time.Hour).UnixNano(), To: time.Now().Add(time.Hour).UnixNano()}); err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.New(pipeline.Config{ApplianceID: c.ApplianceID, Store: c.Store, Signing: c.Key, Recipients: c.RecipientKeys(),
		Storage: c.Storage, Ledger: c.Ledger, Owner: c.Owner, MaxReadings: 1000, SealInterval: 50 * time.Millisecond,
		RetentionEvery: time.Hour, OutboxMinBackoff: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
		Aggregate: &aggregate.Config{}, AggregateStateFile: filepath.Join(t.TempDir(), "aggregate.state")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	h := httpapi.New(httpapi.Options{ApplianceID: c.ApplianceID, Store: c.Store, Pipeline: apiPipeline(p),
		BlockFormat: p.Format(), Logger: slog.New(slog.DiscardHandler)}).Handler()

	// Polls of 3 points at t0 and t0+90s: the second closes the first minute.
	for _, at := range []time.Time{t0, t0.Add(90 * time.Second)} {
		samples := make([]protocols.Sample, 3)
		for i := range samples {
			samples[i] = protocols.Sample{Point: fmt.Sprintf("p%d", i), Value: float64(i), Unit: "bar", Quality: protocols.Good}
		}
		if _, _, err := p.Sink().Ingest("press-1", samples, at); err != nil {
			t.Fatal(err)
		}
	}
	vals, info := scrapeMetrics(t, h)
	if vals["wotchain_aggregate_lag_readings"] != 6 || vals["wotchain_aggregate_windows_total"] != 0 {
		t.Fatalf("before the aggregator runs: lag %v, windows %v", vals["wotchain_aggregate_lag_readings"], vals["wotchain_aggregate_windows_total"])
	}
	// The lag's age is that of the oldest reading not aggregated: t0's.
	if age, want := vals["wotchain_aggregate_lag_seconds"], time.Since(t0).Seconds(); age < want-5 || age > want+5 {
		t.Fatalf("wotchain_aggregate_lag_seconds %v, want about %v", age, want)
	}
	if info["block_format"] != fmt.Sprint(pipeline.DefaultFormat) {
		t.Fatalf("build info %v", info)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	testserver.WaitFor(t, 20*time.Second, "aggregated, anchored and delivered", func() bool {
		s := p.Stats()
		return s.Aggregate.Lag == 0 && s.Aggregate.Emitted > 0 && s.BlocksAnchored > 0 && s.Deliveries.Delivered == s.BlocksAnchored &&
			s.Deliveries.NextHeight > 0
	})
	cancel()
	p.Stop()
	s := p.Stats()
	vals, _ = scrapeMetrics(t, h)
	for name, want := range map[string]float64{
		"wotchain_aggregate_lag_readings":        0,
		"wotchain_aggregate_lag_seconds":         0,
		"wotchain_aggregate_windows_total":       float64(s.Aggregate.Emitted),
		"wotchain_aggregate_errors_total":        0,
		"wotchain_license_deliveries_total":      float64(s.BlocksAnchored),
		"wotchain_license_delivery_errors_total": 0,
		"wotchain_license_grants":                1,
	} {
		if got, ok := vals[name]; !ok || got != want {
			t.Errorf("%s = %v (exported %v), want %v", name, got, ok, want)
		}
	}
	if _, ok := vals["wotchain_mqtt_lag_readings"]; ok {
		t.Error("MQTT metrics without a publisher")
	}
}
