// Package pipeline is the appliance's bridge as one piece: ingest of polls,
// the seal scheduler, the outbox lanes (upload, anchor), retention, the
// licensor and the local consumers of readings (MQTT publisher,
// aggregator). The daemon and bench build it from values, run it and stop
// it; when to seal is decided by Trigger, which does no I/O.
package pipeline

import (
	"context"
	"crypto/ed25519"
	"crypto/hpke"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wotchain/wotchain/bridge/aggregate"
	"github.com/wotchain/wotchain/bridge/grantpub"
	"github.com/wotchain/wotchain/bridge/ingest"
	"github.com/wotchain/wotchain/bridge/keytree"
	"github.com/wotchain/wotchain/bridge/license"
	"github.com/wotchain/wotchain/bridge/outbox"
	"github.com/wotchain/wotchain/bridge/poll"
	"github.com/wotchain/wotchain/bridge/publish"
	"github.com/wotchain/wotchain/bridge/retention"
	"github.com/wotchain/wotchain/bridge/seal"
	"github.com/wotchain/wotchain/bridge/store"
)

// Storage receives block objects and key deliveries.
type Storage interface {
	outbox.Storage
	license.Storage
}

// Ledger anchors credentials and lists grants. A ledger that also has
// outbox.BatchLedger's AnchorBatch anchors runs of blocks in one call.
type Ledger interface {
	outbox.Ledger
	license.Ledger
}

// DrainTimeout is how long Stop lets the outbox anchor what is left;
// whatever remains stays in the outbox for the next start.
const DrainTimeout = 5 * time.Second

// Config is what the pipeline is built from.
type Config struct {
	ApplianceID string
	Store       *store.Store
	Signing     ed25519.PrivateKey
	// RetiredKeys are the keys the appliance signed with before key
	// rotations (keys/retired/): readings they signed that the publisher
	// has not published yet take their salts from them.
	RetiredKeys []ed25519.PrivateKey
	Recipients  []hpke.PublicKey // owner first
	Storage     Storage
	Ledger      Ledger
	// Owner, if set, runs the licensor on every seal interval: it delivers
	// the keys grants license, which needs the owner's key.
	Owner hpke.PrivateKey

	// Format is the block format of the polls ingest writes from now on:
	// 1 or 2; 0 is DefaultFormat. Polls already stored keep theirs: the
	// sealer seals v1 polls left from before an upgrade into v1 blocks
	// first, and v2 polls only into v2 blocks.
	Format int

	MaxReadings  int           // readings per block
	SealInterval time.Duration // the partial tail is sealed at least this often

	// Retention is the local store's policy; Consumed is set by the
	// pipeline (its consumers' floor). RetentionEvery 0 runs no retention
	// (Pruner still serves the disk budget).
	Retention      retention.Policy
	RetentionEvery time.Duration

	// MQTT and Aggregate, if set, are the local consumers of readings.
	MQTT               *publish.Config
	Aggregate          *aggregate.Config
	AggregateStateFile string

	// OutboxMinBackoff, if set, is the outbox's first wait after a failure.
	OutboxMinBackoff time.Duration
	// OnAnchored, if set, is called for each newly anchored block, in
	// height order, from the outbox's anchoring lane.
	OnAnchored func(*store.BlockRecord)
	Logger     *slog.Logger // nil: discard
}

// DefaultFormat is the block format the appliance writes (block format v2:
// exact licensing and selective disclosure, docs/block-format.md).
const DefaultFormat = 2

// Format is the block format of the polls the pipeline writes (and so of
// the blocks it seals from them).
func (p *Pipeline) Format() int { return p.format }

// Stats are the pipeline's counters since New.
type Stats struct {
	ReadingsStored uint64 // readings stored by this run (polls and aggregates)
	BlocksAnchored uint64 // blocks anchored by this run
	StorageErrors  uint64 // failed uploads
	LedgerErrors   uint64 // failed anchoring calls
	// LastAnchorError is the last anchoring attempt's error ("" after a
	// success): a refusal by the ledger, such as a revoked key, says here
	// why blocks stay in the outbox.
	LastAnchorError string
	SealErrors      uint64 // failed seals (readings stay stored; retried)
	LastSealError   error
	// The consumers', each nil when it is not configured (no MQTT, no
	// aggregates, no owner key to deliver with).
	MQTT       *publish.Stats
	Aggregate  *aggregate.Stats
	Deliveries *DeliveryStats
}

// DeliveryStats describe the licensor's key deliveries.
type DeliveryStats struct {
	license.Stats
	Errors uint64 // failed delivery passes since start (each retried)
}

// Pipeline owns the bridge between the poll loops and the ledger.
type Pipeline struct {
	cfg    Config
	log    *slog.Logger
	st     *store.Store
	in     *ingest.Ingester
	sealer *seal.Sealer
	ob     *outbox.Outbox
	pruner *retention.Pruner
	lic    *license.Licensor // nil: no owner key
	format int               // block format of new polls: cfg.Format or DefaultFormat
	pub    *publish.Publisher
	live   *grantpub.Manager // nil: no MQTT or no owner key
	agg    *aggregate.Aggregator

	mu       sync.Mutex
	trigger  *Trigger
	sealErr  error
	sealNow  chan struct{} // a Count seal is asked for
	firstSeq uint64        // first seq of this run

	lastStored, anchored, sealErrors atomic.Uint64
	deliveryErrors                   atomic.Uint64
	running                          atomic.Bool

	startOnce, stopOnce sync.Once
	stopping            chan struct{} // closed by Stop
	runStarted          bool          // under mu
	runDone             chan struct{} // closed when Run returns (if it started)
	stopWorkers         context.CancelFunc
	stopAgg             context.CancelFunc
	workers, aggDone    sync.WaitGroup
}

// New builds the pipeline on cfg.Store; call Run to start it and Stop to
// end it. Nothing runs before Run, but Sink already stores polls.
func New(cfg Config) (*Pipeline, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st := cfg.Store
	p := &Pipeline{cfg: cfg, log: log, st: st, sealNow: make(chan struct{}, 1),
		stopping: make(chan struct{}), runDone: make(chan struct{})}
	var err error
	if p.sealer, err = seal.New(st, cfg.ApplianceID, cfg.Signing, cfg.Recipients, cfg.MaxReadings); err != nil {
		return nil, err
	}
	sealed := uint64(0)
	if last, err := st.LastBlock(); err == nil {
		sealed = last.LastSeq
	}
	if p.firstSeq, err = st.NextSeq(); err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	p.lastStored.Store(p.firstSeq - 1)
	p.trigger = NewTrigger(cfg.MaxReadings, sealed, p.firstSeq-1)
	p.format = cfg.Format
	if p.format == 0 {
		p.format = DefaultFormat
	}
	if p.in, err = ingest.New(st, cfg.ApplianceID, cfg.Signing, p.committed, ingest.WithFormat(p.format)); err != nil {
		return nil, err
	}

	// Local consumers of the stored readings: live MQTT publishing and
	// window aggregation, each resuming from its own durable position.
	if cfg.MQTT != nil {
		// The key tree of the signing key gives v2 readings' salts.
		opts := publish.Options{ApplianceID: cfg.ApplianceID, Logger: log.With("component", "mqtt")}
		if len(cfg.Signing) == ed25519.PrivateKeySize {
			opts.PollKeys = keytree.New(keytree.TreeSecret(cfg.Signing))
		}
		if len(cfg.RetiredKeys) > 0 {
			opts.SignerPollKeys = signerPollKeys(append([]ed25519.PrivateKey{cfg.Signing}, cfg.RetiredKeys...))
		}
		if p.pub, err = publish.New(*cfg.MQTT, st, opts); err != nil {
			return nil, err
		}
		// The grants' live streams share the broker; only the owner
		// serves grants (as the licensor does).
		if cfg.Owner != nil {
			opts.Logger = log.With("component", "grantpub")
			p.live = grantpub.New(st, cfg.Ledger, grantpub.Options{
				ApplianceID: cfg.ApplianceID, MQTT: *cfg.MQTT, Publish: opts, Logger: log,
			})
		}
	}
	if cfg.Aggregate != nil {
		p.agg, err = aggregate.New(*cfg.Aggregate, st, p.in, aggregate.Options{StateFile: cfg.AggregateStateFile, Logger: log.With("component", "aggregate")})
		if err != nil {
			return nil, err
		}
	}

	p.ob = outbox.New(st, cfg.Storage, cfg.Ledger, log.With("component", "outbox"))
	if cfg.OutboxMinBackoff > 0 {
		p.ob.MinBackoff = cfg.OutboxMinBackoff
	}
	p.ob.OnAnchored = func(rec *store.BlockRecord) {
		p.anchored.Add(1)
		if cfg.OnAnchored != nil {
			cfg.OnAnchored(rec)
		}
	}
	// One pruner for retention and the disk budget, which must not prune
	// the same blocks at once.
	policy := cfg.Retention
	policy.Consumed = p.consumed
	p.pruner = retention.New(st, policy, log.With("component", "retention"))
	if cfg.Owner != nil {
		p.lic = license.New(st, cfg.Ledger, cfg.Storage, cfg.Owner, cfg.ApplianceID, log.With("component", "license"))
	}
	return p, nil
}

// committed is ingest's callback after each durable group of polls.
func (p *Pipeline) committed(lastSeq uint64) {
	p.lastStored.Store(lastSeq)
	if p.pub != nil {
		p.pub.Notify(lastSeq)
	}
	if p.live != nil {
		p.live.Notify(lastSeq)
	}
	if p.agg != nil {
		p.agg.Notify(lastSeq)
	}
	p.mu.Lock()
	ask := p.trigger.Stored(lastSeq)
	p.mu.Unlock()
	if ask {
		select {
		case p.sealNow <- struct{}{}:
		default:
		}
	}
}

// consumed is the highest seq every local consumer has finished with:
// retention keeps the blocks holding later readings.
func (p *Pipeline) consumed() uint64 {
	c := ^uint64(0)
	if p.pub != nil {
		c = min(c, p.pub.Stats().AckedSeq)
	}
	if p.agg != nil {
		c = min(c, p.agg.Stats().ProcessedSeq)
	}
	if p.live != nil {
		// Each grant's stream publishes from its own position.
		for _, s := range p.live.Stats() {
			c = min(c, s.AckedSeq)
		}
	}
	return c
}

// Sink is what poll loops write to: it stores each poll durably before
// it returns.
func (p *Pipeline) Sink() poll.Sink { return p.in }

// Pruner is the pipeline's pruner, shared with the disk budget.
func (p *Pipeline) Pruner() *retention.Pruner { return p.pruner }

// Running reports whether Run has started the workers: the appliance is
// ready. It stays true through Stop's drain.
func (p *Pipeline) Running() bool { return p.running.Load() }

// Stats returns the counters.
func (p *Pipeline) Stats() Stats {
	storageErrs, ledgerErrs := p.ob.Errors()
	p.mu.Lock()
	last := p.sealErr
	p.mu.Unlock()
	s := Stats{ReadingsStored: p.lastStored.Load() - (p.firstSeq - 1), BlocksAnchored: p.anchored.Load(),
		StorageErrors: storageErrs, LedgerErrors: ledgerErrs, LastAnchorError: p.ob.LastAnchorError(),
		SealErrors: p.sealErrors.Load(), LastSealError: last}
	if p.pub != nil {
		ps := p.pub.Stats()
		s.MQTT = &ps
	}
	if p.agg != nil {
		as := p.agg.Stats()
		s.Aggregate = &as
	}
	if p.lic != nil {
		s.Deliveries = &DeliveryStats{Stats: p.lic.Stats(), Errors: p.deliveryErrors.Load()}
	}
	return s
}

// Run starts the workers (outbox lanes, retention, licensor, consumers)
// and seals on max_readings and on the seal interval until ctx ends or
// Stop is called. The workers run on until Stop, which drains them.
func (p *Pipeline) Run(ctx context.Context) {
	p.mu.Lock()
	select {
	case <-p.stopping:
		p.mu.Unlock()
		return
	default:
	}
	p.runStarted = true
	p.mu.Unlock()
	defer close(p.runDone)
	p.startOnce.Do(p.start)
	p.running.Store(true)
	tick := time.NewTicker(p.cfg.SealInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.stopping:
			return
		case <-p.sealNow:
			p.seal(Count)
		case <-tick.C:
			p.seal(Interval)
		}
	}
}

// start starts the workers. They run on a context of their own: they keep
// working through Stop's drain.
func (p *Pipeline) start() {
	var ctx, aggCtx context.Context
	ctx, p.stopWorkers = context.WithCancel(context.Background())
	aggCtx, p.stopAgg = context.WithCancel(context.Background())
	p.workers.Add(1)
	go func() { defer p.workers.Done(); p.ob.Run(ctx) }()
	if p.cfg.RetentionEvery > 0 {
		p.workers.Add(1)
		go func() { defer p.workers.Done(); p.runRetention(ctx) }()
	}
	if p.pub != nil {
		// It keeps draining through the shutdown window, like the outbox.
		p.workers.Add(1)
		go func() { defer p.workers.Done(); p.runConsumer(ctx, "mqtt", p.pub.Run) }()
	}
	if p.live != nil {
		if last, err := p.st.NextSeq(); err == nil {
			p.live.Notify(last - 1)
		}
		p.workers.Add(1)
		go func() { defer p.workers.Done(); p.runConsumer(ctx, "grant streams", p.live.Run) }()
	}
	if p.agg != nil {
		p.aggDone.Add(1)
		go func() { defer p.aggDone.Done(); p.runConsumer(aggCtx, "aggregate", p.agg.Run) }()
	}
	if p.lic != nil {
		p.workers.Add(1)
		go func() { defer p.workers.Done(); p.runLicensor(ctx) }()
	}
	p.ob.Notify() // resume blocks left in the outbox by the last run
}

// SealNow seals every pending reading, the partial tail included, and
// returns when they are sealed (or sealing failed, which is logged). The
// disk budget calls it before dropping whole blocks.
func (p *Pipeline) SealNow() { p.seal(Budget) }

// seal seals for cause and hands new blocks to the outbox.
func (p *Pipeline) seal(c Cause) {
	p.mu.Lock()
	flush := p.trigger.Sealing(c)
	p.mu.Unlock()
	blocks, err := p.sealer.Seal(flush)
	for _, b := range blocks {
		p.log.Info("block sealed", "height", b.Height, "block", b.BlockID[:16], "readings", b.LastSeq-b.FirstSeq+1,
			"seq_first", b.FirstSeq, "seq_last", b.LastSeq)
	}
	p.mu.Lock()
	if len(blocks) > 0 {
		p.trigger.Sealed(blocks[len(blocks)-1].LastSeq)
	}
	if err != nil {
		p.sealErr = err
	}
	p.mu.Unlock()
	if err != nil {
		p.sealErrors.Add(1)
		p.log.Error("sealing failed; readings stay stored and will be sealed on the next attempt", "err", err)
	}
	if len(blocks) > 0 {
		p.ob.Notify()
	}
}

// Stop drains the pipeline. The poll loops must be stopped first (that is
// the caller's): then the aggregator stores the windows it can close and
// its state, everything stored is sealed, the outbox gets up to
// DrainTimeout to anchor it, and the workers stop. Whatever is left stays
// in the outbox and is resumed on the next start. Stop may be called
// before, during or after Run, once or more.
func (p *Pipeline) Stop() {
	p.stopOnce.Do(func() {
		p.mu.Lock()
		close(p.stopping)
		started := p.runStarted
		p.mu.Unlock()
		if started {
			<-p.runDone
		}
		// Without a Run, the workers start here so the final block is
		// anchored all the same.
		p.startOnce.Do(p.start)
		// The aggregator stores the windows it can close, then its state,
		// before the last seal, so those aggregates are sealed too.
		p.stopAgg()
		p.aggDone.Wait()
		p.seal(Final)
		p.drain()
		p.stopWorkers()
		p.workers.Wait()
	})
}

// drain waits up to DrainTimeout for the outbox to empty.
func (p *Pipeline) drain() {
	deadline := time.Now().Add(DrainTimeout)
	for time.Now().Before(deadline) {
		if pending, err := p.st.Outbox(); err != nil || len(pending) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runRetention prunes the local store on the retention interval.
func (p *Pipeline) runRetention(ctx context.Context) {
	log := p.log.With("component", "retention")
	t := time.NewTicker(p.cfg.RetentionEvery)
	defer t.Stop()
	for {
		if _, err := p.pruner.Prune(time.Now()); err != nil {
			log.Error("retention failed; will retry", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// runLicensor delivers the keys grants license on every seal interval.
func (p *Pipeline) runLicensor(ctx context.Context) {
	t := time.NewTicker(p.cfg.SealInterval)
	defer t.Stop()
	for {
		if _, err := p.lic.Deliver(ctx); err != nil && ctx.Err() == nil {
			p.deliveryErrors.Add(1)
			p.log.Warn("key delivery failed; will retry", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// runConsumer runs a reading consumer until ctx ends; an error stops only
// that consumer (readings stay stored), and is logged.
func (p *Pipeline) runConsumer(ctx context.Context, name string, run func(context.Context) error) {
	if err := run(ctx); err != nil && ctx.Err() == nil {
		p.log.Error(name+" stopped; readings stay stored and it resumes from its position at the next start", "err", err)
	}
}
