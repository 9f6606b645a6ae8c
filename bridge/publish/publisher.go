package publish

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/wotchain/wotchain/bridge/keytree"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"

	"github.com/wotchain/wotchain/internal/secret"
)

// Store is what the publisher reads: readings by sequence number, the
// poll records (a v2 reading's salt comes from its poll), and its durable
// cursor. *store.Store implements it.
type Store interface {
	NextSeq() (uint64, error)
	PollAt(seq uint64) (firstSeq uint64, record []byte, err error)
	Reading(seq uint64) ([]byte, error)
	Readings(first, last uint64) ([][]byte, error)
	BlockForSeq(seq uint64) (*store.BlockRecord, error)
	Cursor(name string) (uint64, error)
	SetCursor(name string, v uint64) error
}

// Options are the publisher's settings that do not come from its section.
type Options struct {
	ApplianceID string
	// PollKeys gives the poll keys of v2 polls, from which the salts of
	// their readings come: the key tree of the appliance's signing key
	// (keytree.New(keytree.TreeSecret(key))). nil: a v2 reading is an error.
	PollKeys reading.PollKeys
	// SignerPollKeys, if set, gives the poll keys of the key that signed a
	// sealed block, for readings sealed under another key than PollKeys'
	// (stored before a key rotation, published after it: their salts come
	// from the old key's tree). nil: PollKeys for every reading. A reading
	// not sealed yet always takes PollKeys: a rotation seals every pending
	// poll under the old key before the new key signs anything.
	SignerPollKeys func(*store.BlockRecord) (reading.PollKeys, error)
	Logger         *slog.Logger // nil: discard
	// Encoder, if set, replaces the plain message of each reading (the
	// per-grant streams, bridge/grantpub): it returns the messages to
	// publish for the reading, in order, or none to pass it over. The
	// reading counts as acknowledged once all of them are.
	Encoder Encoder
}

// Encoder makes the messages of reading seq (its canonical bytes raw);
// saltOf gives the salt of any reading of the same poll (nil: a v1 poll).
type Encoder func(seq uint64, raw []byte, saltOf func(seq uint64) (*[reading.SaltSize]byte, error)) ([]Out, error)

// Out is one message an Encoder asks for.
type Out struct {
	Topic   string
	Payload []byte
	Retain  bool
}

// Stats describe the publisher for health and metrics.
type Stats struct {
	Published uint64 // messages the broker acknowledged since start (repeats after a reconnect included)
	AckedSeq  uint64 // every reading up to this seq is acknowledged
	Lag       uint64 // stored readings not yet acknowledged: next seq - 1 - AckedSeq
	Connected bool
	Errors    uint64 // failed connects, publishes, timeouts and store errors
	LastError string
	// Skipped counts readings deleted locally (retention, disk budget)
	// before they were published; they are passed over with a warning.
	Skipped uint64
}

// Publisher publishes every stored reading, in sequence order, with QoS 1.
// Its position is the store cursor Config.CursorName(), advanced only for
// readings the broker acknowledged (PUBACK), so an outage or a restart
// loses nothing: publishing resumes after the last acknowledged reading.
// Messages in flight when a connection drops are sent again, so a reading
// can arrive twice (at-least-once); per point, messages stay in sequence
// order.
type Publisher struct {
	cfg      Config
	st       Store
	log      *slog.Logger
	app      string
	broker   string
	clientID string
	tls      *tls.Config
	password string

	wake    chan struct{}
	salts   salts
	encoder Encoder

	// acked is the in-memory acknowledged position; the cursor may lag it
	// by at most cursorEvery.
	acked     atomic.Uint64
	published atomic.Uint64
	skipped   atomic.Uint64
	errors    atomic.Uint64
	connected atomic.Bool
	// connectedOnce is set by a successful connect, so the backoff starts
	// short again after a connection that worked.
	connectedOnce atomic.Bool
	lastStore     atomic.Uint64 // latest seq known to be stored, for Stats when the store read fails
	mu            sync.Mutex
	lastError     string
}

// cursorEvery bounds how often the cursor is written (a synced write) while
// acknowledgements stream in; it is also written whenever the publisher
// catches up or stops. A crash can thus repeat at most this much, never skip.
const cursorEvery = 200 * time.Millisecond

// maxWriteTimeout caps the client's write timeout.
const maxWriteTimeout = 3 * time.Second

// drainTimeout bounds the wait for acknowledgements at stop.
const drainTimeout = 2 * time.Second

// readBatch is how many readings are read from the store at a time.
const readBatch = 256

// New checks the configuration and reads the password and TLS files, so a
// missing file shows at start-up rather than at the first connect.
func New(cfg Config, st Store, opts Options) (*Publisher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	broker, err := brokerAddress(cfg.Broker)
	if err != nil {
		return nil, fmt.Errorf("mqtt: broker: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Publisher{
		cfg: cfg, st: st, app: opts.ApplianceID, broker: broker,
		clientID: cfg.ClientID,
		log:      log.With("component", "mqtt", "broker", cfg.Broker),
		wake:     make(chan struct{}, 1),
		salts:    salts{st: st, keys: opts.PollKeys, signerKeys: opts.SignerPollKeys},
		encoder:  opts.Encoder,
	}
	if p.clientID == "" {
		p.clientID = "wotchain-" + opts.ApplianceID + "-" + cfg.name()
	}
	if cfg.Username != "" {
		if p.password, err = readPassword(&cfg); err != nil {
			return nil, fmt.Errorf("mqtt: %w", err)
		}
	}
	if strings.HasPrefix(broker, "mqtts://") {
		if p.tls, err = tlsConfig(cfg.TLS); err != nil {
			return nil, fmt.Errorf("mqtt: %w", err)
		}
	}
	acked, err := st.Cursor(cfg.CursorName())
	if err != nil {
		return nil, fmt.Errorf("mqtt: read cursor %s: %w", cfg.CursorName(), err)
	}
	p.acked.Store(acked)
	return p, nil
}

// Notify tells the publisher that readings up to lastSeq are stored. It
// never blocks; call it from the ingest stage's committed callback.
func (p *Publisher) Notify(lastSeq uint64) {
	for {
		cur := p.lastStore.Load()
		if lastSeq <= cur || p.lastStore.CompareAndSwap(cur, lastSeq) {
			break
		}
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Stats returns the current statistics.
func (p *Publisher) Stats() Stats {
	acked := p.acked.Load()
	stored := p.lastStore.Load()
	if next, err := p.st.NextSeq(); err == nil && next-1 > stored {
		stored = next - 1
	}
	s := Stats{
		Published: p.published.Load(),
		Skipped:   p.skipped.Load(),
		AckedSeq:  acked,
		Connected: p.connected.Load(),
		Errors:    p.errors.Load(),
	}
	if stored > acked {
		s.Lag = stored - acked
	}
	p.mu.Lock()
	s.LastError = p.lastError
	p.mu.Unlock()
	return s
}

func (p *Publisher) fail(err error) {
	p.errors.Add(1)
	p.mu.Lock()
	p.lastError = err.Error()
	p.mu.Unlock()
}

// Run publishes until ctx ends, reconnecting with backoff after any failure.
// It returns nil when ctx ends.
func (p *Publisher) Run(ctx context.Context) error {
	p.log.Info("publishing", "from_seq", p.acked.Load()+1, "topic", p.cfg.topic(), "max_inflight", p.cfg.maxInflight())
	const minDelay = 500 * time.Millisecond
	delay := minDelay
	for ctx.Err() == nil {
		err := p.session(ctx)
		if ctx.Err() != nil {
			break
		}
		if err == nil {
			continue
		}
		p.fail(err)
		if p.connectedOnce.Swap(false) {
			delay = minDelay
		}
		p.log.Warn("mqtt connection failed; readings stay stored and are published after reconnecting",
			"err", err, "acked_seq", p.acked.Load(), "retry_in", delay)
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		delay = min(delay*2, p.cfg.maxReconnectDelay())
	}
	p.log.Info("publisher stopped", "acked_seq", p.acked.Load())
	return nil
}

// session connects, publishes until an error or the end of ctx, and
// disconnects. Resuming always starts after the acknowledged position, so
// whatever was in flight on a failed connection is published again.
func (p *Publisher) session(ctx context.Context) error {
	lost := make(chan error, 1)
	opts := mqtt.NewClientOptions().
		AddBroker(p.broker).
		SetClientID(p.clientID).
		SetProtocolVersion(4). // MQTT 3.1.1, no fallback probing
		SetCleanSession(true). // resending is ours to do, from the cursor
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetKeepAlive(p.cfg.keepAlive()).
		SetPingTimeout(p.cfg.ackTimeout()).
		SetConnectTimeout(p.cfg.connectTimeout()).
		// The write timeout also bounds how long Publish can block handing a
		// message to a connection that has just died (paho notices the loss
		// after the fact), so keep it short.
		SetWriteTimeout(min(p.cfg.ackTimeout(), maxWriteTimeout)).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			p.connected.Store(false)
			select {
			case lost <- err:
			default:
			}
		})
	if p.cfg.Username != "" {
		opts.SetUsername(p.cfg.Username).SetPassword(p.password)
	}
	if p.tls != nil {
		opts.SetTLSConfig(p.tls)
	}
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if !waitToken(ctx, tok, p.cfg.connectTimeout()+time.Second) {
		c.Disconnect(0)
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("connect to %s: timed out", p.cfg.Broker)
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("connect to %s: %w", p.cfg.Broker, err)
	}
	p.connected.Store(true)
	p.connectedOnce.Store(true)
	p.log.Info("mqtt connected", "client_id", p.clientID, "resume_after_seq", p.acked.Load())
	err := p.stream(ctx, c, lost)
	p.connected.Store(false)
	c.Disconnect(250)
	if serr := p.saveCursor(); serr != nil && err == nil {
		err = serr
	}
	return err
}

// inflight is a published message awaiting its PUBACK, or, with a nil
// token, a range of deleted readings ending at seq that needs none.
type inflight struct {
	seq uint64
	tok mqtt.Token
	at  time.Time
}

// stream publishes readings after the acknowledged position in sequence
// order, keeping at most max_inflight unacknowledged. Acknowledgements are
// taken strictly in order, so the position only ever covers a gap-free
// prefix of acknowledged readings.
func (p *Publisher) stream(ctx context.Context, c mqtt.Client, lost <-chan error) error {
	poll := time.NewTicker(p.cfg.pollInterval())
	defer poll.Stop()
	ackTimer := time.NewTimer(time.Hour)
	defer ackTimer.Stop()
	w := &sendWindow{next: p.acked.Load() + 1}
	// Whatever ends the stream, acknowledgements already received count.
	defer func() { p.harvest(w.items) }()
	lastSave := time.Now()
	for {
		select {
		case err := <-lost:
			return fmt.Errorf("connection lost: %w", err)
		default:
		}
		added, err := p.fill(c, w)
		if err != nil {
			return err
		}
		if added {
			continue // more may fit; acknowledgements are collected below
		}
		if len(w.items) == 0 {
			// Caught up: make the position durable, then sleep.
			if err := p.saveCursor(); err != nil {
				return err
			}
			lastSave = time.Now()
			if stop, err := p.idle(ctx, lost, poll.C); stop {
				return err
			}
			continue
		}
		if stop, err := p.awaitHead(ctx, w, ackTimer, lost); stop {
			return err
		}
		if w.items, err = p.harvest(w.items); err != nil {
			return err
		}
		if time.Since(lastSave) >= cursorEvery {
			if err := p.saveCursor(); err != nil {
				return err
			}
			lastSave = time.Now()
		}
	}
}

// sendWindow is what stream has in flight, oldest first, and the sequence
// number of the next reading to send.
type sendWindow struct {
	items []inflight
	next  uint64
}

// readRange chooses the readings to send next: from next up to the last
// stored one, no more than the window has room for and one store read
// holds. ok is false when nothing is to be read.
func readRange(next, stored uint64, room int) (last uint64, ok bool) {
	if room <= 0 || next > stored {
		return 0, false
	}
	return min(stored, next+uint64(min(room, readBatch))-1), true
}

// fill reads the next run of stored readings into the window: it publishes
// them, or passes over a run deleted before it was published. It reports
// whether it added anything.
func (p *Publisher) fill(c mqtt.Client, w *sendWindow) (bool, error) {
	room := p.cfg.maxInflight() - len(w.items)
	if room <= 0 {
		return false, nil
	}
	nextSeq, err := p.st.NextSeq()
	if err != nil {
		return false, fmt.Errorf("read store position: %w", err)
	}
	last, ok := readRange(w.next, nextSeq-1, room)
	if !ok {
		return false, nil
	}
	raws, deleted, err := store.ReadUpToGap(p.st, w.next, last)
	if err != nil {
		return false, fmt.Errorf("read readings %d..%d: %w", w.next, last, err)
	}
	if deleted != nil {
		// Gone for good: pass over the block once everything before it is
		// acknowledged.
		p.log.Warn("readings were deleted locally before they were published (retention or disk budget); skipping them",
			"seq_first", w.next, "seq_last", deleted.LastSeq, "block", deleted.Height, "dropped_unanchored", deleted.Dropped)
		p.skipped.Add(deleted.LastSeq - w.next + 1)
		w.items = append(w.items, inflight{seq: deleted.LastSeq})
		w.next = deleted.LastSeq + 1
		return true, nil
	}
	for i, raw := range raws {
		seq := w.next + uint64(i)
		if p.encoder != nil {
			fs, err := p.publishEncoded(c, seq, raw)
			if err != nil {
				return false, err
			}
			w.items = append(w.items, fs...)
			continue
		}
		f, err := p.publish(c, seq, raw)
		if err != nil {
			return false, err
		}
		w.items = append(w.items, f)
	}
	w.next += uint64(len(raws))
	return true, nil
}

// publish hands one reading to the client with QoS 1.
func (p *Publisher) publish(c mqtt.Client, seq uint64, raw []byte) (inflight, error) {
	salt, err := p.salts.of(seq)
	if err != nil {
		return inflight{}, fmt.Errorf("reading %d: %w", seq, err)
	}
	var m *Message
	if salt == nil {
		m, err = NewMessage(raw)
	} else {
		m, err = NewSaltedMessage(raw, *salt)
	}
	if err != nil {
		return inflight{}, fmt.Errorf("reading %d: %w", seq, err)
	}
	payload, err := json.Marshal(m)
	if err != nil {
		return inflight{}, fmt.Errorf("reading %d: encode: %w", seq, err)
	}
	tok := c.Publish(Topic(p.cfg.topic(), m.Appliance, m.Device, m.Point), 1, p.cfg.Retain, payload)
	if isDone(tok) && tok.Error() != nil {
		// Not sent at all (not connected, or the hand-over timed out):
		// publishing more would fail the same way.
		return inflight{}, fmt.Errorf("publish reading %d: %w", seq, tok.Error())
	}
	return inflight{seq: seq, tok: tok, at: time.Now()}, nil
}

// publishEncoded publishes the Encoder's messages of one reading with QoS
// 1. All but the last stand in the window at seq-1, so the reading's
// position advances only once every one of them is acknowledged; a
// reading with no message stands as a token-less entry, acknowledged in
// its turn.
func (p *Publisher) publishEncoded(c mqtt.Client, seq uint64, raw []byte) ([]inflight, error) {
	outs, err := p.encoder(seq, raw, p.salts.of)
	if err != nil {
		return nil, fmt.Errorf("reading %d: %w", seq, err)
	}
	if len(outs) == 0 {
		return []inflight{{seq: seq}}, nil
	}
	fs := make([]inflight, 0, len(outs))
	for i, o := range outs {
		tok := c.Publish(o.Topic, 1, o.Retain, o.Payload)
		if isDone(tok) && tok.Error() != nil {
			return nil, fmt.Errorf("publish reading %d: %w", seq, tok.Error())
		}
		at := seq
		if i < len(outs)-1 {
			at = seq - 1
		}
		fs = append(fs, inflight{seq: at, tok: tok, at: time.Now()})
	}
	return fs, nil
}

// idle sleeps until new readings may be stored; stop says the stream ends,
// with err (nil when ctx ended).
func (p *Publisher) idle(ctx context.Context, lost <-chan error, poll <-chan time.Time) (stop bool, err error) {
	select {
	case <-ctx.Done():
		return true, nil
	case err := <-lost:
		return true, fmt.Errorf("connection lost: %w", err)
	case <-p.wake:
	case <-poll:
	}
	return false, nil
}

// awaitHead waits for the oldest message's acknowledgement; stop says the
// stream ends, with err (nil when ctx ended, after a drain).
func (p *Publisher) awaitHead(ctx context.Context, w *sendWindow, ackTimer *time.Timer, lost <-chan error) (stop bool, err error) {
	head := w.items[0]
	if head.tok == nil {
		return false, nil
	}
	ackTimer.Reset(time.Until(head.at.Add(p.cfg.ackTimeout())))
	select {
	case <-ctx.Done():
		w.items = p.drain(w.items)
		return true, nil
	case <-head.tok.Done():
	case err := <-lost:
		return true, fmt.Errorf("connection lost: %w", err)
	case <-ackTimer.C:
		return true, fmt.Errorf("no acknowledgement of reading %d within %s", head.seq, p.cfg.ackTimeout())
	}
	return false, nil
}

// drain waits briefly for the acknowledgements of messages in flight when
// the publisher stops, so that a clean restart repeats nothing.
func (p *Publisher) drain(window []inflight) []inflight {
	deadline := time.NewTimer(min(p.cfg.ackTimeout(), drainTimeout))
	defer deadline.Stop()
wait:
	for _, f := range window {
		if f.tok == nil {
			continue
		}
		select {
		case <-f.tok.Done():
		case <-deadline.C:
			break wait
		}
	}
	rest, _ := p.harvest(window)
	return rest
}

// harvest takes the acknowledged prefix off the window and advances the
// acknowledged position over it. It stops at the first message not yet
// acknowledged, or at one that failed, whose error it returns.
func (p *Publisher) harvest(window []inflight) ([]inflight, error) {
	n, sent := 0, uint64(0)
	var err error
	for _, f := range window {
		if f.tok == nil {
			n++
			continue
		}
		if !isDone(f.tok) {
			break
		}
		if e := f.tok.Error(); e != nil {
			err = fmt.Errorf("publish reading %d: %w", f.seq, e)
			break
		}
		n++
		sent++
	}
	if n > 0 {
		p.acked.Store(window[n-1].seq)
		p.published.Add(sent)
	}
	return window[n:], err
}

// saveCursor makes the acknowledged position durable.
func (p *Publisher) saveCursor() error {
	acked := p.acked.Load()
	if err := p.st.SetCursor(p.cfg.CursorName(), acked); err != nil {
		return fmt.Errorf("save cursor %s at %d: %w", p.cfg.CursorName(), acked, err)
	}
	return nil
}

func isDone(t mqtt.Token) bool {
	select {
	case <-t.Done():
		return true
	default:
		return false
	}
}

// waitToken waits for t, the end of ctx or the timeout; it reports whether t completed.
func waitToken(ctx context.Context, t mqtt.Token, timeout time.Duration) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-t.Done():
		return true
	case <-ctx.Done():
	case <-timer.C:
	}
	return false
}

func readPassword(cfg *Config) (string, error) {
	if cfg.PasswordEnv != "" {
		return secret.Value("password_env", cfg.PasswordEnv, "")
	}
	if cfg.PasswordFile == "" {
		return "", errors.New("username: set password_file or password_env")
	}
	return secret.Value("password_file", "", cfg.PasswordFile)
}

func tlsConfig(t TLS) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file %s: no PEM certificate", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		keyPEM, err := secret.ReadFile(t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.key_file: %w", err)
		}
		certPEM, err := os.ReadFile(t.CertFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file: %w", err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file %s with key_file %s: %w", t.CertFile, t.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// salts gives the salt of a stored reading: nil for a reading of a v1
// poll, the keytree salt of its poll key for a v2 one. Readings are
// published in seq order, so the last poll is kept: one poll lookup per
// poll, not per reading. Used by the publishing goroutine only.
type salts struct {
	st         Store
	keys       reading.PollKeys
	signerKeys func(*store.BlockRecord) (reading.PollKeys, error)

	first, last uint64 // the kept poll's range; last 0: none kept
	v2          bool
	key         [32]byte
	block       *store.BlockRecord // the kept block (signerKeys only)
}

func (s *salts) of(seq uint64) (*[reading.SaltSize]byte, error) {
	if s.last == 0 || seq < s.first || seq > s.last {
		first, raw, err := s.st.PollAt(seq)
		if err != nil {
			return nil, err
		}
		rec, err := reading.DecodePoll(raw)
		if err != nil {
			return nil, fmt.Errorf("poll at %d: %w", first, err)
		}
		if rec.FirstSeq != first || seq > rec.LastSeq {
			return nil, fmt.Errorf("poll at %d holds %d..%d, not reading %d", first, rec.FirstSeq, rec.LastSeq, seq)
		}
		s.first, s.last, s.v2 = rec.FirstSeq, rec.LastSeq, rec.Version() == reading.PollV2
		if s.v2 {
			keys, err := s.pollKeys(seq)
			if err != nil {
				s.last = 0
				return nil, fmt.Errorf("reading of v2 poll %d of %q: %w", rec.PollIndex, rec.DeviceID, err)
			}
			s.key = keys.PollKey(rec.DeviceID, rec.PollIndex)
		}
	}
	if !s.v2 {
		return nil, nil
	}
	salt := keytree.Salt(s.key, seq-s.first)
	return &salt, nil
}

// pollKeys is the key tree of the key that signed reading seq's poll.
func (s *salts) pollKeys(seq uint64) (reading.PollKeys, error) {
	keys := s.keys
	if s.signerKeys != nil {
		if s.block == nil || seq < s.block.FirstSeq || seq > s.block.LastSeq {
			blk, err := s.st.BlockForSeq(seq)
			switch {
			case store.IsNotFound(err):
				blk = nil // not sealed yet: the current key's
			case err != nil:
				return nil, err
			}
			s.block = blk
		}
		if s.block != nil {
			k, err := s.signerKeys(s.block)
			if err != nil {
				return nil, err
			}
			keys = k
		}
	}
	if keys == nil {
		return nil, errors.New("no key tree for its salt")
	}
	return keys, nil
}
