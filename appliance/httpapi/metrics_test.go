package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// scrape fetches /metrics and parses it with the Prometheus text parser.
func scrape(t *testing.T, e *env) map[string]*dto.MetricFamily {
	t.Helper()
	w := e.get(t, "/metrics")
	if w.Code != http.StatusOK {
		t.Fatalf("metrics: status %d: %s", w.Code, w.Body)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(w.Body)
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	return fams
}

// value returns the value of name's series with the given device label
// ("" for a series without labels).
func value(t *testing.T, fams map[string]*dto.MetricFamily, name, device string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("metric %s missing", name)
	}
	for _, m := range f.Metric {
		d := ""
		for _, l := range m.Label {
			if l.GetName() == "device" {
				d = l.GetValue()
			}
		}
		if d != device {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue()
		}
		t.Fatalf("metric %s has type %s", name, f.GetType())
	}
	t.Fatalf("metric %s has no series for device %q", name, device)
	return 0
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	e.srv.ObservePoll("boiler-1", 20*time.Millisecond, nil)
	e.srv.ObservePoll("boiler-1", 40*time.Millisecond, nil)
	e.srv.ObservePoll("boiler-1", 3*time.Second, errors.New("timeout"))
	fams := scrape(t, e)

	want := []struct {
		name   string
		typ    dto.MetricType
		device string
		value  float64
	}{
		{"wotchain_device_polls_total", dto.MetricType_COUNTER, "boiler-1", 42},
		{"wotchain_device_polls_total", dto.MetricType_COUNTER, "press-2", 10},
		{"wotchain_device_poll_errors_total", dto.MetricType_COUNTER, "boiler-1", 1},
		{"wotchain_device_poll_errors_total", dto.MetricType_COUNTER, "press-2", 4},
		{"wotchain_device_readings_total", dto.MetricType_COUNTER, "boiler-1", 84},
		{"wotchain_device_reconnects_total", dto.MetricType_COUNTER, "boiler-1", 2},
		{"wotchain_device_last_good_read_timestamp_seconds", dto.MetricType_GAUGE, "boiler-1", float64(lastGood.Unix())},
		{"wotchain_device_last_good_read_timestamp_seconds", dto.MetricType_GAUGE, "press-2", float64(lastGood.Unix() - 60)},
		{"wotchain_device_consecutive_errors", dto.MetricType_GAUGE, "boiler-1", 0},
		{"wotchain_device_consecutive_errors", dto.MetricType_GAUGE, "press-2", 3},
		{"wotchain_device_requests_last_poll", dto.MetricType_GAUGE, "boiler-1", 3},
		{"wotchain_device_requests_total", dto.MetricType_COUNTER, "boiler-1", 126},
		{"wotchain_device_connected", dto.MetricType_GAUGE, "boiler-1", 1},
		{"wotchain_device_last_poll_duration_seconds", dto.MetricType_GAUGE, "press-2", 2},
		{"wotchain_device_poll_interval_seconds", dto.MetricType_GAUGE, "press-2", 5},
		{"wotchain_pipeline_readings_stored_total", dto.MetricType_COUNTER, "", 23},
		{"wotchain_pipeline_blocks_sealed_total", dto.MetricType_COUNTER, "", 6},
		{"wotchain_pipeline_blocks_uploaded_total", dto.MetricType_COUNTER, "", 5},
		{"wotchain_pipeline_blocks_anchored_total", dto.MetricType_COUNTER, "", 4},
		{"wotchain_pipeline_outbox_depth", dto.MetricType_GAUGE, "", 2},
		{"wotchain_pipeline_storage_errors_total", dto.MetricType_COUNTER, "", 2},
		{"wotchain_pipeline_ledger_errors_total", dto.MetricType_COUNTER, "", 5},
		{"wotchain_pipeline_last_anchored_height", dto.MetricType_GAUGE, "", 3},
	}
	for _, w := range want {
		if got := fams[w.name]; got == nil || got.GetType() != w.typ {
			t.Fatalf("%s: family %v, want type %s", w.name, got, w.typ)
		}
		if got := value(t, fams, w.name, w.device); got != w.value {
			t.Errorf("%s{device=%q} = %v, want %v", w.name, w.device, got, w.value)
		}
	}
	if age := value(t, fams, "wotchain_pipeline_outbox_oldest_age_seconds", ""); age <= 0 || age > 600 {
		t.Errorf("outbox oldest age %v s", age)
	}
	// A source without statistics exports no statistics series.
	for _, m := range fams["wotchain_device_reconnects_total"].Metric {
		if m.Label[0].GetValue() == "press-2" {
			t.Error("press-2 has no stats but exports reconnects")
		}
	}

	h := fams["wotchain_device_poll_duration_seconds"]
	if h == nil || h.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("poll duration histogram: %v", h)
	}
	results := map[string]*dto.Histogram{}
	for _, m := range h.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["device"] != "boiler-1" {
			t.Fatalf("histogram series for %v", labels)
		}
		results[labels["result"]] = m.GetHistogram()
	}
	ok, failed := results["ok"], results["error"]
	if ok.GetSampleCount() != 2 || ok.GetSampleSum() < 0.0599 || ok.GetSampleSum() > 0.0601 || failed.GetSampleCount() != 1 {
		t.Fatalf("histogram ok %v, error %v", ok, failed)
	}
	for _, b := range ok.Bucket {
		want := uint64(0)
		switch {
		case b.GetUpperBound() >= 0.05:
			want = 2
		case b.GetUpperBound() >= 0.025:
			want = 1
		}
		if b.GetCumulativeCount() != want {
			t.Fatalf("bucket le=%v holds %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}

	// Own registry with the runtime collectors, nothing from the default one.
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if fams[name] == nil {
			t.Errorf("%s missing", name)
		}
	}
	for name := range fams {
		if !strings.HasPrefix(name, "wotchain_") && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
			t.Errorf("unexpected metric %s", name)
		}
	}

	// Scrape time collection: a change in the sources shows at once, and
	// a forgotten device's histogram goes.
	e.dev.set(twoDevices(1)[:1])
	e.srv.ForgetDevice("boiler-1")
	fams = scrape(t, e)
	if n := len(fams["wotchain_device_polls_total"].Metric); n != 1 {
		t.Fatalf("%d devices after removing one", n)
	}
	if fams["wotchain_device_poll_duration_seconds"] != nil {
		t.Fatal("histogram of a forgotten device still exported")
	}
	e.c.Drain(t)
	if got := value(t, scrape(t, e), "wotchain_pipeline_blocks_anchored_total", ""); got != 6 {
		t.Fatalf("anchored after draining: %v", got)
	}
}

func TestMetricsWithoutStore(t *testing.T) {
	// The device metrics survive a pipeline that cannot be read.
	e := &env{srv: New(Options{Devices: &fakeDevices{list: twoDevices(1)}, Logger: discardLogger()})}
	fams := scrape(t, e)
	if value(t, fams, "wotchain_device_polls_total", "boiler-1") != 42 {
		t.Fatal("device metrics missing")
	}
	if fams["wotchain_pipeline_readings_stored_total"] != nil {
		t.Fatal("pipeline metrics without a store")
	}
}
