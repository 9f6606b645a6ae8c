package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/appliance/httpapi"
	"github.com/wotchain/wotchain/bridge/aggregate"
	"github.com/wotchain/wotchain/bridge/ingest"
	"github.com/wotchain/wotchain/bridge/license"
	"github.com/wotchain/wotchain/bridge/outbox"
	"github.com/wotchain/wotchain/bridge/poll"
	"github.com/wotchain/wotchain/bridge/publish"
	"github.com/wotchain/wotchain/bridge/retention"
	"github.com/wotchain/wotchain/bridge/seal"
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

	sealer, err := seal.New(n.Store, cfg.Appliance.ID, n.Signing, n.Recipients, cfg.Seal.MaxReadings)
	if err != nil {
		return err
	}
	ob := outbox.New(n.Store, n.Storage, n.Ledger, log.With("component", "outbox"))
	var anchored atomic.Uint64

	sealedUpto := uint64(0)
	if last, err := n.Store.LastBlock(); err == nil {
		sealedUpto = last.LastSeq
	}
	var unsealedBase atomic.Uint64
	unsealedBase.Store(sealedUpto)
	sealNow := make(chan struct{}, 1)
	firstSeq, err := n.Store.NextSeq()
	if err != nil {
		return err
	}
	var lastStored atomic.Uint64
	lastStored.Store(firstSeq - 1)
	// Local consumers of the stored readings: live MQTT publishing and
	// window aggregation, each resuming from its own durable position.
	var pub *publish.Publisher
	var agg *aggregate.Aggregator
	in, err := ingest.New(n.Store, cfg.Appliance.ID, n.Signing, func(lastSeq uint64) {
		lastStored.Store(lastSeq)
		if pub != nil {
			pub.Notify(lastSeq)
		}
		if agg != nil {
			agg.Notify(lastSeq)
		}
		if lastSeq-unsealedBase.Load() >= uint64(cfg.Seal.MaxReadings) {
			select {
			case sealNow <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		return err
	}

	if cfg.MQTT != nil {
		if pub, err = publish.New(*cfg.MQTT, n.Store, publish.Options{ApplianceID: cfg.Appliance.ID, Logger: log.With("component", "mqtt")}); err != nil {
			return err
		}
	}
	if cfg.Aggregate != nil {
		agg, err = aggregate.New(*cfg.Aggregate, n.Store, in, aggregate.Options{
			StateFile: filepath.Join(cfg.Resolve(cfg.Appliance.DataDir), "aggregate.state"), Logger: log.With("component", "aggregate")})
		if err != nil {
			return err
		}
	}
	consumed := func() uint64 {
		c := ^uint64(0)
		if pub != nil {
			c = min(c, pub.Stats().AckedSeq)
		}
		if agg != nil {
			c = min(c, agg.Stats().ProcessedSeq)
		}
		return c
	}

	// The operators' HTTP API; it stops before the store closes (defers run
	// in reverse), so no request reaches a closed RocksDB handle.
	lv := poll.NewLastValues()
	var ready atomic.Bool
	var devices *pool
	api := httpapi.New(httpapi.Options{
		ApplianceID: cfg.Appliance.ID, Store: n.Store, OwnerKey: n.Owner, Credentials: n.Ledger, Objects: n.Storage,
		Logger:  log.With("component", "http"),
		Devices: httpapi.DevicesFunc(func() []httpapi.DeviceStatus { return devices.statuses(lv.Values) }),
		Pipeline: httpapi.PipelineFunc(func() httpapi.PipelineCounters {
			storageErrs, ledgerErrs := ob.Errors()
			return httpapi.PipelineCounters{StorageErrors: storageErrs, LedgerErrors: ledgerErrs}
		}),
		Ready: func(context.Context) error {
			if !ready.Load() {
				return errors.New("starting")
			}
			return nil
		},
	})
	ob.OnAnchored = func(*store.BlockRecord) { anchored.Add(1); api.Notify() }
	devices = newPool(lv.Sink(in), newSources(cfg, log), log)
	devices.observe = api.ObservePoll
	devices.forget = func(id string) { api.ForgetDevice(id); lv.Forget(id) }
	httpCtx, stopHTTP := context.WithCancel(context.Background())
	var httpDone sync.WaitGroup
	defer func() { stopHTTP(); httpDone.Wait() }()
	if *cfg.HTTP.Enabled {
		httpDone.Add(1)
		go func() {
			defer httpDone.Done()
			if err := api.Serve(httpCtx, cfg.HTTP.Listen); err != nil {
				log.Error("HTTP API not available; the appliance runs on", "listen", cfg.HTTP.Listen, "err", err)
			}
		}()
	}
	if _, _, _, err := devices.apply(ctx, cfg.Devices); err != nil {
		devices.stopAll()
		return err
	}
	defer devices.stopAll()
	log.Info("appliance running", "appliance", cfg.Appliance.ID, "devices", len(cfg.Devices),
		"seal_every", cfg.Seal.MaxReadings, "seal_interval", cfg.Seal.Interval.D(), "storage", cfg.Storage.Kind, "ledger", cfg.Ledger.Kind,
		"http", httpURL(cfg))

	sealBlocks := func(flush bool) {
		blocks, err := sealer.Seal(flush)
		for _, b := range blocks {
			unsealedBase.Store(b.LastSeq)
			log.Info("block sealed", "height", b.Height, "block", b.BlockID[:16], "readings", b.LastSeq-b.FirstSeq+1,
				"seq_first", b.FirstSeq, "seq_last", b.LastSeq)
		}
		if err != nil {
			log.Error("sealing failed; readings stay stored and will be sealed on the next attempt", "err", err)
		}
		if len(blocks) > 0 {
			ob.Notify()
		}
	}
	var workers sync.WaitGroup
	obCtx, stopOutbox := context.WithCancel(context.Background())
	workers.Add(3)
	go func() { defer workers.Done(); ob.Run(obCtx) }()
	// One pruner for retention and the disk budget, which must not prune
	// the same blocks at once.
	pruner := retention.New(n.Store, retention.Policy{KeepFor: cfg.Retention.KeepFor.D(),
		KeepBytes: uint64(cfg.Retention.KeepBytes), Consumed: consumed}, log.With("component", "retention"))
	go func() {
		defer workers.Done()
		runRetention(obCtx, pruner, cfg.Retention.Every.D(), log.With("component", "retention"))
	}()
	if pub != nil {
		// It keeps draining through the shutdown window, like the outbox.
		workers.Add(1)
		go func() { defer workers.Done(); runConsumer(obCtx, "mqtt", pub.Run, log) }()
	}
	aggCtx, stopAgg := context.WithCancel(context.Background())
	var aggDone sync.WaitGroup
	if agg != nil {
		aggDone.Add(1)
		go func() { defer aggDone.Done(); runConsumer(aggCtx, "aggregate", agg.Run, log) }()
	}
	lic := license.New(n.Store, n.Ledger, n.Storage, n.Owner, cfg.Appliance.ID, log.With("component", "license"))
	go func() { defer workers.Done(); runLicensor(obCtx, lic, cfg.Seal.Interval.D(), log) }()
	ob.Notify() // resume blocks left in the outbox by the last run
	ready.Store(true)

	b := &budget{st: n.Store, pruner: pruner, max: uint64(cfg.Budget.MaxBytes), policy: cfg.Budget.OnFull, devices: devices,
		seal: func() { sealBlocks(true) }, log: log.With("component", "budget")}
	go b.run(ctx)
	reload := watchConfig(ctx, cfg.Path, log)
	sealTick := time.NewTicker(cfg.Seal.Interval.D())
	defer sealTick.Stop()
	statusTick := time.NewTicker(30 * time.Second)
	defer statusTick.Stop()
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case <-sealNow:
			sealBlocks(false)
		case <-sealTick.C:
			sealBlocks(true)
		case <-statusTick.C:
			logStatus(log, devices.loops(), lastStored.Load()-(firstSeq-1), anchored.Load())
		case <-reload:
			reloadDevices(ctx, cfg, devices, log)
		}
	}
	devices.stopAll()
	// The aggregator stores the windows it can close, then its state, before
	// the last seal, so those aggregates are sealed too.
	stopAgg()
	aggDone.Wait()
	sealBlocks(true)
	// Give the outbox a moment to anchor the final block; whatever is left
	// stays in the outbox and is resumed on the next start.
	drain, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	for {
		pending, err := n.Store.Outbox()
		if err != nil || len(pending) == 0 || drain.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	stopOutbox()
	workers.Wait()
	logStatus(log, nil, lastStored.Load()-(firstSeq-1), anchored.Load())
	log.Info("appliance stopped")
	return nil
}

// runLicensor delivers licensed data keys on every seal interval.
func runLicensor(ctx context.Context, lic *license.Licensor, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := lic.Deliver(ctx); err != nil && ctx.Err() == nil {
			log.Warn("key delivery failed; will retry", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// logStatus logs what this run stored and anchored, and the running
// devices' poll errors.
func logStatus(log *slog.Logger, loops []*poll.Loop, readings, anchored uint64) {
	var errors uint64
	for _, l := range loops {
		errors += l.Health().Errors
	}
	log.Info("status", "readings_stored", readings, "poll_errors", errors, "blocks_anchored", anchored)
}

// runConsumer runs a reading consumer until ctx ends; an error stops only
// that consumer (readings stay stored), and is logged.
func runConsumer(ctx context.Context, name string, run func(context.Context) error, log *slog.Logger) {
	if err := run(ctx); err != nil && ctx.Err() == nil {
		log.Error(name+" stopped; readings stay stored and it resumes from its position at the next start", "err", err)
	}
}

func httpURL(cfg *config.Config) string {
	if !*cfg.HTTP.Enabled {
		return "off"
	}
	return "http://" + cfg.HTTP.Listen + "/"
}
