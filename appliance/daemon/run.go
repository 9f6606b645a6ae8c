package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/appliance/httpapi"
	"github.com/wotchain/wotchain/bridge/pipeline"
	"github.com/wotchain/wotchain/bridge/poll"
	"github.com/wotchain/wotchain/bridge/retention"
	"github.com/wotchain/wotchain/bridge/store"
)

// Run runs the appliance until ctx ends, then stops polling, seals what is
// pending and returns. Everything acknowledged is durable at every moment,
// so a kill at any point loses nothing; a clean stop only saves the restart
// some work.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	stopSims, err := startSimulators(ctx, cfg.Simulators, log)
	defer stopSims()
	if err != nil {
		return err
	}
	n, err := Open(cfg, log, false)
	if err != nil {
		return err
	}
	defer n.Close()
	if err := n.ensureRegistered(ctx, log); err != nil {
		return fmt.Errorf("register appliance on the ledger: %w", err)
	}
	if err := n.resealAtStart(ctx, log); err != nil {
		return fmt.Errorf("re-seal the blocks a key revocation stranded: %w", err)
	}
	sec, err := httpSecurity(cfg, log.With("component", "http"))
	if err != nil {
		return err
	}
	defer sec.close()
	var api *httpapi.Server
	p, err := pipeline.New(pipelineConfig(cfg, n, func(*store.BlockRecord) { api.Notify() }, log))
	if err != nil {
		return err
	}
	runs, err := beginRun(n.Store, p.Sink(), cfg.Devices, log)
	if err != nil {
		return err
	}
	lv := poll.NewLastValues()
	var devices *pool
	api = newAPI(cfg, n, p, httpapi.DevicesFunc(func() []httpapi.DeviceStatus { return devices.statuses(lv.Values) }), sec, log)
	devices = newPool(lv.Sink(p.Sink()), newSources(cfg, log), log)
	devices.observe = api.ObservePoll
	devices.forget = func(id string) { api.ForgetDevice(id); lv.Forget(id) }
	devices.status = runs.rec
	// The HTTP API stops before the store closes (defers run in reverse),
	// so no request reaches a closed RocksDB handle.
	defer serveHTTP(cfg, api, log)()
	if _, _, _, err := devices.apply(ctx, cfg.Devices); err != nil {
		devices.stopAll()
		return err
	}
	defer devices.stopAll()
	log.Info("appliance running", "appliance", cfg.Appliance.ID, "devices", len(cfg.Devices),
		"seal_every", cfg.Seal.MaxReadings, "seal_interval", cfg.Seal.Interval.D(), "storage", cfg.Storage.Kind, "ledger", cfg.Ledger.Kind,
		"http", httpURL(cfg))
	go p.Run(ctx)

	b := &budget{st: n.Store, pruner: p.Pruner(), max: uint64(cfg.Budget.MaxBytes), policy: cfg.Budget.OnFull, devices: devices,
		seal: p.SealNow, log: log.With("component", "budget")}
	go b.run(ctx)
	reload := watchConfig(ctx, cfg.Path, log)
	statusTick := time.NewTicker(30 * time.Second)
	defer statusTick.Stop()
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case <-statusTick.C:
			logStatus(log, devices.loops(), p.Stats())
		case <-reload:
			reloadDevices(ctx, cfg, devices, log)
		}
	}
	// Devices stop first, so the pipeline's final seal holds every poll
	// and their stopped records.
	polling := devices.ids()
	devices.stopAll()
	runs.stopping(polling)
	p.Stop()
	runs.end()
	logStatus(log, nil, p.Stats())
	log.Info("appliance stopped")
	return nil
}

// pipelineConfig is the pipeline's part of the configuration and node.
func pipelineConfig(cfg *config.Config, n *Node, onAnchored func(*store.BlockRecord), log *slog.Logger) pipeline.Config {
	return pipeline.Config{
		ApplianceID: cfg.Appliance.ID, Store: n.Store, Signing: n.Signing, RetiredKeys: n.Retired, Recipients: n.Recipients,
		Storage: n.Storage, Ledger: n.Ledger, Owner: n.Owner,
		MaxReadings: cfg.Seal.MaxReadings, SealInterval: cfg.Seal.Interval.D(),
		Retention:      retention.Policy{KeepFor: cfg.Retention.KeepFor.D(), KeepBytes: uint64(cfg.Retention.KeepBytes)},
		RetentionEvery: cfg.Retention.Every.D(),
		MQTT:           cfg.MQTT, Aggregate: cfg.Aggregate,
		AggregateStateFile: filepath.Join(cfg.Resolve(cfg.Appliance.DataDir), "aggregate.state"),
		OnAnchored:         onAnchored, Logger: log,
	}
}

// newAPI builds the operators' HTTP API over the node and the pipeline;
// it is ready once the pipeline runs.
func newAPI(cfg *config.Config, n *Node, p *pipeline.Pipeline, devices httpapi.Devices, sec httpSec, log *slog.Logger) *httpapi.Server {
	return httpapi.New(httpapi.Options{
		Auth: sec.auth, TLS: sec.tls,
		ApplianceID: cfg.Appliance.ID, Store: n.Store, OwnerKey: n.Owner, Credentials: n.Ledger, Objects: n.Storage,
		Logger: log.With("component", "http"), Devices: devices,
		Pipeline:    apiPipeline(p),
		BlockFormat: p.Format(),
		Ready: func(context.Context) error {
			if !p.Running() {
				return errors.New("starting")
			}
			return nil
		},
	})
}

// serveHTTP serves the API if it is enabled and returns the function that
// stops it and waits until it has.
func serveHTTP(cfg *config.Config, api *httpapi.Server, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var done sync.WaitGroup
	if *cfg.HTTP.Enabled {
		done.Add(1)
		go func() {
			defer done.Done()
			if err := api.Serve(ctx, cfg.HTTP.Listen); err != nil {
				log.Error("HTTP API not available; the appliance runs on", "listen", cfg.HTTP.Listen, "err", err)
			}
		}()
	}
	return func() { cancel(); done.Wait() }
}

// logStatus logs what this run stored and anchored, and the running
// devices' poll errors.
func logStatus(log *slog.Logger, loops []*poll.Loop, s pipeline.Stats) {
	var errors uint64
	for _, l := range loops {
		errors += l.Health().Errors
	}
	log.Info("status", "readings_stored", s.ReadingsStored, "poll_errors", errors, "blocks_anchored", s.BlocksAnchored)
}

func httpURL(cfg *config.Config) string {
	if !*cfg.HTTP.Enabled {
		return "off"
	}
	if cfg.HTTP.TLS != nil {
		return "https://" + cfg.HTTP.Listen + "/"
	}
	return "http://" + cfg.HTTP.Listen + "/"
}

// apiPipeline gives the HTTP API the pipeline's statistics at each
// request (metrics, status).
func apiPipeline(p *pipeline.Pipeline) httpapi.Pipeline {
	return httpapi.PipelineFunc(func() httpapi.PipelineCounters { return pipelineCounters(p.Stats()) })
}

// pipelineCounters is what the HTTP API shows of the pipeline's statistics.
func pipelineCounters(s pipeline.Stats) httpapi.PipelineCounters {
	c := httpapi.PipelineCounters{StorageErrors: s.StorageErrors, LedgerErrors: s.LedgerErrors, LastAnchorError: s.LastAnchorError}
	if m := s.MQTT; m != nil {
		connected := m.Connected
		c.MQTT = &httpapi.ConsumerCounters{Done: m.Published, Position: m.AckedSeq, Lag: m.Lag, Errors: m.Errors, Connected: &connected}
	}
	if a := s.Aggregate; a != nil {
		c.Aggregate = &httpapi.ConsumerCounters{Done: a.Emitted, Position: a.ProcessedSeq, Lag: a.Lag, Errors: a.Errors}
	}
	if d := s.Deliveries; d != nil {
		c.Deliveries = &httpapi.DeliveryCounters{Delivered: d.Delivered, Errors: d.Errors, Grants: d.Grants, NextHeight: d.NextHeight}
	}
	return c
}
