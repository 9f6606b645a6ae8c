package grantpub

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/wotchain/wotchain/bridge/livegrant"
	"github.com/wotchain/wotchain/bridge/publish"
	"github.com/wotchain/wotchain/chaincode/rules"
)

// Ledger lists the appliance's grants (license.Ledger).
type Ledger interface {
	ListGrants(ctx context.Context, applianceID string, limit int, bookmark string) (*rules.GrantPage, error)
}

// PublisherStore is what the grant publishers read.
type PublisherStore interface {
	publish.Store
	Store
}

// Options configure the manager.
type Options struct {
	ApplianceID string
	// MQTT is the plain publisher's section: broker, credentials, TLS and
	// timing are shared; each grant gets its own name (hence client id and
	// cursor) "grant-{id}".
	MQTT    publish.Config
	Publish publish.Options // PollKeys, SignerPollKeys, Logger
	// Rotation is the epoch length of the grants' keys (default 1h).
	Rotation time.Duration
	// Refresh is how often the ledger's grants are read (default 10s):
	// a revocation stops the stream within it.
	Refresh time.Duration
	Keys    livegrant.KeyStore // nil: in memory
	Logger  *slog.Logger
}

// Manager runs a publisher per grant.
type Manager struct {
	st     PublisherStore
	ledger Ledger
	opts   Options
	log    *slog.Logger

	mu      sync.Mutex
	running map[string]*running
	last    uint64
}

type running struct {
	stream *Stream
	pub    *publish.Publisher
}

// New returns a manager.
func New(st PublisherStore, ledger Ledger, opts Options) *Manager {
	if opts.Rotation <= 0 {
		opts.Rotation = time.Hour
	}
	if opts.Refresh <= 0 {
		opts.Refresh = 10 * time.Second
	}
	if opts.Keys == nil {
		opts.Keys = livegrant.NewMemKeys()
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{st: st, ledger: ledger, opts: opts, log: log.With("component", "grantpub"), running: map[string]*running{}}
}

// Notify tells every grant publisher that readings up to lastSeq are stored.
func (m *Manager) Notify(lastSeq uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last = max(m.last, lastSeq)
	for _, r := range m.running {
		r.pub.Notify(lastSeq)
	}
}

// Stats returns each grant publisher's statistics, by grant id.
func (m *Manager) Stats() map[string]publish.Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]publish.Stats, len(m.running))
	for id, r := range m.running {
		out[id] = r.pub.Stats()
	}
	return out
}

// Run reads the grants every Refresh, starts a publisher for each new one
// and applies revocations, until ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(m.opts.Refresh)
	defer t.Stop()
	for {
		if err := m.refresh(ctx, &wg); err != nil && ctx.Err() == nil {
			m.log.Warn("reading grants failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (m *Manager) refresh(ctx context.Context, wg *sync.WaitGroup) error {
	for bookmark := ""; ; {
		page, err := m.ledger.ListGrants(ctx, m.opts.ApplianceID, 100, bookmark)
		if err != nil {
			return fmt.Errorf("list grants: %w", err)
		}
		for _, g := range page.Grants {
			if err := m.apply(ctx, wg, g); err != nil {
				m.log.Warn("grant not streamed", "grant", g.ID, "err", err)
			}
		}
		if bookmark = page.Bookmark; bookmark == "" {
			return nil
		}
	}
}

// apply starts grant g's publisher if it has none, and passes on its
// revocation.
func (m *Manager) apply(ctx context.Context, wg *sync.WaitGroup, g *rules.Grant) error {
	m.mu.Lock()
	r, ok := m.running[g.ID]
	m.mu.Unlock()
	if ok {
		if g.RevokedAt != 0 {
			r.stream.Revoke(g.RevokedAt)
		}
		return nil
	}
	stream, err := NewStream(m.st, m.opts.ApplianceID, g, m.opts.Rotation, m.opts.Keys)
	if err != nil {
		return err
	}
	cfg := m.opts.MQTT
	cfg.Name = "grant-" + g.ID
	cfg.Topic = DataTopic(m.opts.ApplianceID, g.ID)
	cfg.ClientID = ""
	cfg.Retain = false
	po := m.opts.Publish
	po.ApplianceID = m.opts.ApplianceID
	po.Encoder = stream.Encode
	pub, err := publish.New(cfg, m.st, po)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.running[g.ID] = &running{stream: stream, pub: pub}
	last := m.last
	m.mu.Unlock()
	pub.Notify(last)
	m.log.Info("streaming grant", "grant", g.ID, "partner", g.PartnerMSP, "revoked_at", g.RevokedAt)
	wg.Go(func() { _ = pub.Run(ctx) })
	return nil
}
