package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/ledger"
	"github.com/wotchain/wotchain/bridge/objstore"
	bpipeline "github.com/wotchain/wotchain/bridge/pipeline"
	"github.com/wotchain/wotchain/bridge/poll"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/protocols"
)

// pipelineConfig is what the daemon's configuration would say.
type pipelineConfig struct {
	Dir          string
	MaxReadings  int           // seal.max_readings
	SealInterval time.Duration // seal.interval
	Devices      []poll.Device
	// OnAnchored, if set, is called with each newly anchored block; an
	// error fails the run.
	OnAnchored func(st *store.Store, rec *store.BlockRecord) error
}

// pipeline is the appliance's bridge as appliance/daemon runs it: poll
// loops writing to bridge/pipeline (ingest -> sealer on max_readings or
// the interval -> outbox -> filesystem storage and the embedded ledger),
// without the daemon's configuration, keys on disk, simulators, licensor,
// retention and consumers. Bench stays out of appliance/ so that it
// measures the bridge packages themselves.
type pipeline struct {
	st      *store.Store
	pipe    *bpipeline.Pipeline
	loops   []*poll.Loop
	anchors atomic.Uint64
	stop    func()
	errs    chan error
}

func startPipeline(ctx context.Context, cfg pipelineConfig) (*pipeline, error) {
	st, err := store.Open(filepath.Join(cfg.Dir, "store"))
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*pipeline, error) { st.Close(); return nil, err }
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fail(err)
	}
	kem, err := hpke.NewKEM(keys.KEMX25519)
	if err != nil {
		return fail(err)
	}
	owner, err := kem.GenerateKey()
	if err != nil {
		return fail(err)
	}
	storage, err := objstore.NewFS(filepath.Join(cfg.Dir, "objects"))
	if err != nil {
		return fail(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	led := ledger.NewEmbedded(st.Ledger(), "appliance-"+ApplianceID, quiet)
	id := led.Identity()
	if err := led.RegisterAppliance(ctx, rules.Appliance{ID: ApplianceID, PublicKey: key.Public().(ed25519.PublicKey), AnchorMSP: id.MSPID, AnchorID: id.ID}); err != nil {
		return fail(err)
	}
	p := &pipeline{st: st, errs: make(chan error, 16)}
	p.pipe, err = bpipeline.New(bpipeline.Config{
		ApplianceID: ApplianceID, Store: st, Signing: key, Recipients: []hpke.PublicKey{owner.PublicKey()},
		Storage: storage, Ledger: led, MaxReadings: cfg.MaxReadings, SealInterval: cfg.SealInterval,
		OutboxMinBackoff: 50 * time.Millisecond, Logger: quiet,
		OnAnchored: func(rec *store.BlockRecord) {
			p.anchors.Add(1)
			if cfg.OnAnchored != nil {
				if err := cfg.OnAnchored(st, rec); err != nil {
					p.report(err)
				}
			}
		},
	})
	if err != nil {
		return fail(err)
	}

	runCtx, stopRunning := context.WithCancel(context.Background())
	pollCtx, stopPolling := context.WithCancel(runCtx)
	var pollers sync.WaitGroup
	for _, d := range cfg.Devices {
		l := poll.NewLoop(d, p.pipe.Sink(), quiet)
		p.loops = append(p.loops, l)
		pollers.Add(1)
		go func() { defer pollers.Done(); l.Run(pollCtx) }()
	}
	go p.pipe.Run(runCtx)
	p.stop = func() {
		stopPolling()
		pollers.Wait()
		// The final seal, and the outbox anchors what it produced.
		p.pipe.Stop()
		stopRunning()
		if err := p.pipe.Stats().LastSealError; err != nil {
			p.report(fmt.Errorf("seal: %w", err))
		}
	}
	return p, nil
}

func (p *pipeline) report(err error) {
	select {
	case p.errs <- err:
	default:
	}
}

// Close stops polling, seals and anchors what is pending, and closes the store.
func (p *pipeline) Close() error {
	p.stop()
	p.st.Close()
	var polls, pollErrs uint64
	var last string
	for _, l := range p.loops {
		h := l.Health()
		polls += h.Polls
		pollErrs += h.Errors
		if h.LastError != "" {
			last = h.LastError
		}
	}
	select {
	case err := <-p.errs:
		return err
	default:
	}
	if pollErrs > 0 && pollErrs*100 > polls { // a rare poll error is a device's, not ours
		return fmt.Errorf("%d of %d polls failed, last: %s", pollErrs, polls, last)
	}
	return nil
}

// readings is the number of readings ingested so far.
func (p *pipeline) readings() uint64 {
	var n uint64
	for _, l := range p.loops {
		n += l.Health().Readings
	}
	return n
}

// synthetic is a Source of n points whose values change on every poll:
// device I/O costs nothing, so what is measured is the bridge.
type synthetic struct {
	points []string
	polls  atomic.Uint64
}

func newSynthetic(device string, n int) *synthetic {
	s := &synthetic{points: make([]string, n)}
	for i := range s.points {
		s.points[i] = fmt.Sprintf("%s.point%05d", device, i)
	}
	return s
}

func (s *synthetic) Poll(context.Context) ([]protocols.Sample, error) {
	k := s.polls.Add(1)
	out := make([]protocols.Sample, len(s.points))
	for i, name := range s.points {
		out[i] = protocols.Sample{Point: name, Value: float64((k+uint64(i))%1000) / 10, Unit: "degC", Quality: protocols.Good}
	}
	return out, nil
}

func (s *synthetic) Close() error { return nil }
