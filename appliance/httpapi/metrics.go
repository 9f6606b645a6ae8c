package httpapi

import (
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wotchain/wotchain/bridge/reading"
)

const namespace = "wotchain"

func desc(subsystem, name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, subsystem, name), help, labels, nil)
}

// Per-device metrics, read from Devices at scrape time.
var (
	descPolls          = desc("device", "polls_total", "Polls finished, successful or not.", "device")
	descPollErrors     = desc("device", "poll_errors_total", "Polls that failed (device unreachable or storing failed).", "device")
	descReadings       = desc("device", "readings_total", "Readings stored from the device since start.", "device")
	descReconnects     = desc("device", "reconnects_total", "Connections re-established after a failure.", "device")
	descLastGood       = desc("device", "last_good_read_timestamp_seconds", "Unix time of the last successful poll; 0 if none since start.", "device")
	descConsecutive    = desc("device", "consecutive_errors", "Polls failed in a row; 0 when the last poll succeeded.", "device")
	descRequestsLast   = desc("device", "requests_last_poll", "Protocol requests the last poll needed.", "device")
	descRequests       = desc("device", "requests_total", "Protocol requests sent.", "device")
	descConnected      = desc("device", "connected", "1 when the source holds a connection to the device.", "device")
	descLastDuration   = desc("device", "last_poll_duration_seconds", "Duration of the last poll.", "device")
	descPollInterval   = desc("device", "poll_interval_seconds", "Configured poll interval.", "device")
	descReadingsStored = desc("pipeline", "readings_stored_total", "Readings durably stored (all devices, since the store was created).")
	descBlocksSealed   = desc("pipeline", "blocks_sealed_total", "Blocks sealed.")
	descBlocksUploaded = desc("pipeline", "blocks_uploaded_total", "Blocks whose encrypted object is in storage.")
	descBlocksAnchored = desc("pipeline", "blocks_anchored_total", "Blocks whose credential is on the ledger.")
	descOutboxDepth    = desc("pipeline", "outbox_depth", "Sealed blocks not yet anchored.")
	descOutboxAge      = desc("pipeline", "outbox_oldest_age_seconds", "Age of the oldest block not yet anchored; 0 when the outbox is empty.")
	descStorageErrors  = desc("pipeline", "storage_errors_total", "Failed block uploads since start.")
	descLedgerErrors   = desc("pipeline", "ledger_errors_total", "Failed ledger calls since start.")
	descLastAnchored   = desc("pipeline", "last_anchored_height", "Height of the last anchored block; absent before the first.")

	// The consumers, each present only when configured.
	descMQTTPublished  = desc("mqtt", "published_total", "Messages the MQTT broker acknowledged since start (repeats after a reconnect included).")
	descMQTTErrors     = desc("mqtt", "errors_total", "Failed connects, publishes, timeouts and store reads of the MQTT publisher since start.")
	descMQTTLag        = desc("mqtt", "lag_readings", "Stored readings the broker has not acknowledged yet.")
	descMQTTLagSeconds = desc("mqtt", "lag_seconds", "Age of the oldest stored reading the broker has not acknowledged; 0 when caught up.")
	descMQTTConnected  = desc("mqtt", "connected", "1 when the publisher holds a broker connection.")
	descAggWindows     = desc("aggregate", "windows_total", "Aggregate windows stored since start.")
	descAggErrors      = desc("aggregate", "errors_total", "Aggregator errors since start.")
	descAggLag         = desc("aggregate", "lag_readings", "Stored readings the aggregator has not processed yet.")
	descAggLagSeconds  = desc("aggregate", "lag_seconds", "Age of the oldest stored reading the aggregator has not processed; 0 when caught up.")
	descDeliveries     = desc("license", "deliveries_total", "Key deliveries stored for partners' grants since start.")
	descDeliveryErrors = desc("license", "delivery_errors_total", "Failed key delivery passes since start (each retried).")
	descDeliveryGrants = desc("license", "grants", "Grants the last delivery pass examined.")
	descDeliveryLag    = desc("license", "delivery_lag_blocks", "Anchored blocks some grant has not had its delivery decision for yet.")
)

// pollBuckets span fast Modbus reads to polls that hit their timeout.
var pollBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

func (s *Server) initMetrics() {
	s.registry = prometheus.NewRegistry()
	s.pollDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "device", Name: "poll_duration_seconds",
		Help:    "Duration of device polls, by result (ok, error).",
		Buckets: pollBuckets,
	}, []string{"device", "result"})
	s.registry.MustRegister(
		buildInfo(s.opts.BlockFormat),
		&deviceCollector{s},
		&pipelineCollector{s},
		&consumerCollector{s},
		s.pollDur,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
}

// ObservePoll records one poll's duration for the poll-duration histogram.
// The daemon calls it after each poll of a device; err is the poll's error.
func (s *Server) ObservePoll(device string, d time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	s.pollDur.WithLabelValues(device, result).Observe(d.Seconds())
}

// ForgetDevice drops a removed device's histogram series.
func (s *Server) ForgetDevice(device string) {
	s.pollDur.DeletePartialMatch(prometheus.Labels{"device": device})
}

func (s *Server) metricsHandler() http.Handler {
	// A failing collector (store unreadable) is logged and left out, so
	// the device metrics still reach Prometheus.
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{
		ErrorLog:      promLogger{s},
		ErrorHandling: promhttp.ContinueOnError,
	})
}

type promLogger struct{ s *Server }

func (l promLogger) Println(v ...any) { l.s.log.Error("metrics", "err", fmt.Sprint(v...)) }

// deviceCollector exports each device's health and source statistics.
type deviceCollector struct{ s *Server }

func (c *deviceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPolls, descPollErrors, descReadings, descReconnects, descLastGood,
		descConsecutive, descRequestsLast, descRequests, descConnected, descLastDuration, descPollInterval} {
		ch <- d
	}
}

func (c *deviceCollector) Collect(ch chan<- prometheus.Metric) {
	for _, d := range c.s.devices() {
		h := d.Health
		m := func(desc *prometheus.Desc, t prometheus.ValueType, v float64) {
			ch <- prometheus.MustNewConstMetric(desc, t, v, d.ID)
		}
		m(descPolls, prometheus.CounterValue, float64(h.Polls))
		m(descPollErrors, prometheus.CounterValue, float64(h.Errors))
		m(descReadings, prometheus.CounterValue, float64(h.Readings))
		m(descConsecutive, prometheus.GaugeValue, float64(h.ConsecutiveErrors))
		m(descLastDuration, prometheus.GaugeValue, h.LastDuration.Seconds())
		m(descPollInterval, prometheus.GaugeValue, d.Interval.Seconds())
		lastGood := 0.0
		if !h.LastGood.IsZero() {
			lastGood = float64(h.LastGood.UnixNano()) / 1e9
		}
		m(descLastGood, prometheus.GaugeValue, lastGood)
		if st := d.Stats; st != nil {
			m(descReconnects, prometheus.CounterValue, float64(st.Reconnects))
			m(descRequestsLast, prometheus.GaugeValue, float64(st.RequestsLastPoll))
			m(descRequests, prometheus.CounterValue, float64(st.RequestsTotal))
			connected := 0.0
			if st.Connected {
				connected = 1
			}
			m(descConnected, prometheus.GaugeValue, connected)
		}
	}
}

// pipelineCollector exports the pipeline's state from the store.
type pipelineCollector struct{ s *Server }

func (c *pipelineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReadingsStored, descBlocksSealed, descBlocksUploaded, descBlocksAnchored,
		descOutboxDepth, descOutboxAge, descStorageErrors, descLedgerErrors, descLastAnchored} {
		ch <- d
	}
}

func (c *pipelineCollector) Collect(ch chan<- prometheus.Metric) {
	if err := c.s.needStore(); err != nil {
		ch <- prometheus.NewInvalidMetric(descReadingsStored, err)
		return
	}
	p, err := c.s.pipeline()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descReadingsStored, err)
		return
	}
	m := func(desc *prometheus.Desc, t prometheus.ValueType, v float64) {
		ch <- prometheus.MustNewConstMetric(desc, t, v)
	}
	m(descReadingsStored, prometheus.CounterValue, float64(p.NextSeq-1))
	m(descBlocksSealed, prometheus.CounterValue, float64(p.Sealed))
	m(descBlocksUploaded, prometheus.CounterValue, float64(p.Uploaded))
	m(descBlocksAnchored, prometheus.CounterValue, float64(p.Anchored))
	m(descOutboxDepth, prometheus.GaugeValue, float64(p.OutboxDepth))
	m(descOutboxAge, prometheus.GaugeValue, p.oldestAge(time.Now()).Seconds())
	m(descStorageErrors, prometheus.CounterValue, float64(p.Counters.StorageErrors))
	m(descLedgerErrors, prometheus.CounterValue, float64(p.Counters.LedgerErrors))
	if p.LastAnchored != nil {
		m(descLastAnchored, prometheus.GaugeValue, float64(p.LastAnchored.Height))
	}
}

// buildInfo is wotchain_build_info, 1 with the binary's version, VCS
// revision, Go version and the block format it writes as labels (the
// Prometheus convention), so a dashboard can show which build each
// appliance runs.
func buildInfo(blockFormat int) prometheus.Collector {
	version, revision, modified, bf := "(devel)", "unknown", "false", "unknown"
	if blockFormat != 0 {
		bf = strconv.Itoa(blockFormat)
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, kv := range bi.Settings {
			switch kv.Key {
			case "vcs.revision":
				revision = kv.Value
			case "vcs.modified":
				modified = kv.Value
			}
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info", Help: "1, labelled with the build's version, VCS revision, Go version and the block format it writes.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "modified": modified,
			"goversion": runtime.Version(), "block_format": bf},
	})
	g.Set(1)
	return g
}

// consumerCollector exports the MQTT publisher's, the aggregator's and
// the licensor's progress, each only when configured.
type consumerCollector struct{ s *Server }

func (c *consumerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMQTTPublished, descMQTTErrors, descMQTTLag, descMQTTLagSeconds, descMQTTConnected,
		descAggWindows, descAggErrors, descAggLag, descAggLagSeconds,
		descDeliveries, descDeliveryErrors, descDeliveryGrants, descDeliveryLag} {
		ch <- d
	}
}

func (c *consumerCollector) Collect(ch chan<- prometheus.Metric) {
	if c.s.opts.Pipeline == nil {
		return
	}
	pc := c.s.opts.Pipeline.Counters()
	m := func(desc *prometheus.Desc, t prometheus.ValueType, v float64) {
		ch <- prometheus.MustNewConstMetric(desc, t, v)
	}
	now := time.Now()
	if q := pc.MQTT; q != nil {
		m(descMQTTPublished, prometheus.CounterValue, float64(q.Done))
		m(descMQTTErrors, prometheus.CounterValue, float64(q.Errors))
		m(descMQTTLag, prometheus.GaugeValue, float64(q.Lag))
		m(descMQTTLagSeconds, prometheus.GaugeValue, c.s.lagSeconds(q, now))
		connected := 0.0
		if q.Connected != nil && *q.Connected {
			connected = 1
		}
		m(descMQTTConnected, prometheus.GaugeValue, connected)
	}
	if a := pc.Aggregate; a != nil {
		m(descAggWindows, prometheus.CounterValue, float64(a.Done))
		m(descAggErrors, prometheus.CounterValue, float64(a.Errors))
		m(descAggLag, prometheus.GaugeValue, float64(a.Lag))
		m(descAggLagSeconds, prometheus.GaugeValue, c.s.lagSeconds(a, now))
	}
	if d := pc.Deliveries; d != nil {
		m(descDeliveries, prometheus.CounterValue, float64(d.Delivered))
		m(descDeliveryErrors, prometheus.CounterValue, float64(d.Errors))
		m(descDeliveryGrants, prometheus.GaugeValue, float64(d.Grants))
		m(descDeliveryLag, prometheus.GaugeValue, float64(c.s.deliveryLag(d)))
	}
}

// lagSeconds is the age of the first reading a consumer has not consumed
// yet, read from the store; 0 when it is caught up or that reading is gone
// (pruned: the consumer passes over it).
func (s *Server) lagSeconds(c *ConsumerCounters, now time.Time) float64 {
	if c.Lag == 0 || s.opts.Store == nil {
		return 0
	}
	raw, err := s.opts.Store.Reading(c.Position + 1)
	if err != nil {
		return 0
	}
	r, err := reading.Decode(raw)
	if err != nil {
		return 0
	}
	return max(0, now.Sub(r.Time()).Seconds())
}

// deliveryLag counts the anchored blocks from the lowest height a grant
// has not examined: the licensor examines only anchored blocks.
func (s *Server) deliveryLag(d *DeliveryCounters) uint64 {
	if d.Grants == 0 || s.opts.Store == nil {
		return 0
	}
	p, err := s.pipeline()
	if err != nil || p.Anchored <= d.NextHeight {
		return 0
	}
	return p.Anchored - d.NextHeight
}
