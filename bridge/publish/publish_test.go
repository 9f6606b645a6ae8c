package publish

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/wotchain/wotchain/bridge/ingest"
	"github.com/wotchain/wotchain/bridge/keytree"
	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/retention"
	"github.com/wotchain/wotchain/internal/testserver"
	"github.com/wotchain/wotchain/protocols"
)

const appID = pipelinetest.ApplianceID

// env is a real chain whose committed callback notifies the publisher
// under test, as the daemon wires them. It writes v2 polls, as the
// appliance does, unless the options say otherwise.
type env struct {
	*pipelinetest.Chain
	tree   *keytree.Tree // of the chain's signing key: the poll keys
	notify atomic.Pointer[Publisher]
	clock  time.Time
	polls  int
}

func newEnv(t *testing.T, opts ...pipelinetest.Option) *env {
	t.Helper()
	e := &env{clock: time.Unix(1_700_000_000, 0)}
	opts = append([]pipelinetest.Option{pipelinetest.WithFormat(2)}, opts...)
	e.Chain = pipelinetest.New(t, append(opts, pipelinetest.WithCommitted(e.committed))...)
	e.tree = keytree.New(keytree.TreeSecret(e.Key))
	return e
}

func (e *env) committed(last uint64) {
	if p := e.notify.Load(); p != nil {
		p.Notify(last)
	}
}

// upgrade replaces the chain's ingester by one writing polls of format,
// on the same store: an appliance restarted after an upgrade.
func (e *env) upgrade(t *testing.T, format int) {
	t.Helper()
	in, err := ingest.New(e.Store, appID, e.Key, e.committed, ingest.WithFormat(format))
	if err != nil {
		t.Fatal(err)
	}
	e.Ingester = in
}

// leaf is the leaf of reading seq that its poll's signature covers: the
// reading's hash in a v1 poll; in a v2 poll its salted leaf, after
// checking that the poll's salted leaves give its signed poll root.
func (e *env) leaf(t *testing.T, seq uint64) (leaf []byte, v2 bool) {
	t.Helper()
	first, raw, err := e.Store.PollAt(seq)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := reading.DecodePoll(raw)
	if err != nil {
		t.Fatal(err)
	}
	readings, err := e.Store.Readings(rec.FirstSeq, rec.LastSeq)
	if err != nil {
		t.Fatal(err)
	}
	leaves, err := rec.Leaves(readings, e.tree)
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Verify(e.Public, leaves); err != nil {
		t.Fatalf("poll of reading %d: %v", seq, err)
	}
	return leaves[seq-first], rec.Version() == reading.PollV2
}

// ingest stores n polls of 4 points (float, int, bool, string; every 7th
// poll has a Bad point) round-robin over 3 devices. It returns the last seq.
func (e *env) ingest(t testing.TB, n int) uint64 {
	var last uint64
	for range n {
		i := e.polls
		e.polls++
		samples := []protocols.Sample{
			{Point: "temperature", Value: 20 + float64(i)/8, Unit: "degC", Quality: protocols.Good},
			{Point: "counter", Value: int64(i) * 1_000_000_007, Quality: protocols.Good},
			{Point: "running", Value: i%2 == 0, Quality: protocols.Uncertain, Reason: "sensor warming up"},
			{Point: "state/mode", Value: fmt.Sprintf("mode-%d", i%3), Quality: protocols.Good},
		}
		if i%7 == 0 {
			samples[1] = protocols.Sample{Point: "counter", Quality: protocols.Bad, Reason: "timeout"}
		}
		e.clock = e.clock.Add(100 * time.Millisecond)
		var err error
		_, last, err = e.Ingester.Ingest(fmt.Sprintf("dev-%d", i%3), samples, e.clock)
		if err != nil {
			t.Error(err)
			return 0
		}
	}
	return last
}

func (e *env) publisher(t *testing.T, cfg Config) *Publisher {
	t.Helper()
	p, err := New(cfg, e.Store, Options{ApplianceID: appID, PollKeys: e.tree, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	e.notify.Store(p)
	return p
}

// run runs p until the returned stop function is called (or the test ends).
func run(t *testing.T, p *Publisher) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// received is one message as a subscriber got it.
type received struct {
	topic string
	msg   Message
	raw   []byte
}

// collector is a subscriber with a persistent session (clean session off,
// QoS 1): the broker queues messages for it while it is disconnected, and
// keeps them across its own restart (mosquitto persistence).
type collector struct {
	mu   sync.Mutex
	msgs []received
	bad  []string
	c    mqtt.Client
}

func subscribe(t *testing.T, addr, clientID, filter string) *collector {
	t.Helper()
	col := &collector{}
	handler := func(_ mqtt.Client, m mqtt.Message) {
		var msg Message
		dec := json.NewDecoder(bytes.NewReader(m.Payload()))
		dec.UseNumber()
		err := dec.Decode(&msg)
		col.mu.Lock()
		defer col.mu.Unlock()
		if err != nil {
			col.bad = append(col.bad, fmt.Sprintf("%s: %v", m.Topic(), err))
			return
		}
		col.msgs = append(col.msgs, received{topic: m.Topic(), msg: msg, raw: m.Payload()})
	}
	opts := mqtt.NewClientOptions().AddBroker("mqtt://" + addr).SetClientID(clientID).
		SetProtocolVersion(4).SetCleanSession(false).
		SetAutoReconnect(true).SetMaxReconnectInterval(200 * time.Millisecond).
		SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond).
		SetDefaultPublishHandler(handler)
	col.c = mqtt.NewClient(opts)
	if tok := col.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	if tok := col.c.Subscribe(filter, 1, handler); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	t.Cleanup(func() { col.c.Disconnect(100) })
	return col
}

func (c *collector) snapshot() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]received(nil), c.msgs...)
}

// distinct is the number of distinct seqs received.
func (c *collector) distinct() int {
	seen := map[uint64]bool{}
	for _, r := range c.snapshot() {
		seen[r.msg.Seq] = true
	}
	return len(seen)
}

// check verifies what a subscriber received against the store: every seq
// 1..last arrived (exactly once when exactlyOnce, else at least once); per
// topic, the first arrivals are in strictly increasing seq order; every
// topic follows the template; every payload verifies and carries the bytes
// of the stored reading and the leaf its poll's signature covers (salted,
// with its salt, for a v2 poll). It returns the number of duplicates.
func check(t *testing.T, e *env, tmpl string, got []received, last uint64, exactlyOnce bool) int {
	t.Helper()
	seen := map[uint64]int{}
	lastPerTopic := map[string]uint64{}
	dups := 0
	for _, r := range got {
		m := r.msg
		if seen[m.Seq]++; seen[m.Seq] > 1 {
			dups++
			continue
		}
		if prev, ok := lastPerTopic[r.topic]; ok && m.Seq <= prev {
			t.Errorf("topic %s: seq %d arrived after seq %d", r.topic, m.Seq, prev)
		}
		lastPerTopic[r.topic] = m.Seq
		if err := m.Verify(); err != nil {
			t.Errorf("payload of seq %d does not verify: %v\n%s", m.Seq, err, r.raw)
			continue
		}
		if want := Topic(tmpl, appID, m.Device, m.Point); r.topic != want {
			t.Errorf("seq %d on topic %q, want %q", m.Seq, r.topic, want)
		}
		stored, err := e.Store.Reading(m.Seq)
		if err != nil {
			t.Errorf("seq %d: %v", m.Seq, err)
			continue
		}
		if !bytes.Equal(stored, m.Canonical) {
			t.Errorf("seq %d: canonical bytes differ from the store", m.Seq)
		}
		leaf, v2 := e.leaf(t, m.Seq)
		if want := hex.EncodeToString(leaf); m.LeafHash != want {
			t.Errorf("seq %d: leaf hash %s, the poll signature covers %s", m.Seq, m.LeafHash, want)
		}
		if v2 != (m.Salt != "") {
			t.Errorf("seq %d: salt %q in a message of a v2 poll = %v", m.Seq, m.Salt, v2)
		}
	}
	for seq := uint64(1); seq <= last; seq++ {
		if seen[seq] == 0 {
			t.Errorf("seq %d never arrived", seq)
		}
	}
	if uint64(len(seen)) != last {
		t.Errorf("%d distinct seqs arrived, want %d", len(seen), last)
	}
	if exactlyOnce && dups > 0 {
		t.Errorf("%d duplicates without any outage", dups)
	}
	return dups
}

func TestPublishInOrder(t *testing.T) {
	m := testserver.StartMosquitto(t)
	e := newEnv(t)
	col := subscribe(t, m.Addr, "sub-order", "plant/#")
	e.ingest(t, 40) // published from the store before the publisher starts
	cfg := Config{Broker: "mqtt://" + m.Addr, Topic: "plant/{appliance}/{device}/{point}", MaxInflight: 8, PollInterval: Duration(time.Hour)}
	p := e.publisher(t, cfg)
	run(t, p)
	last := e.ingest(t, 60) // and woken by Notify (the poll interval is an hour)
	testserver.WaitFor(t, 20*time.Second, "all readings at the subscriber", func() bool { return uint64(col.distinct()) >= last })

	got := col.snapshot()
	check(t, e, cfg.Topic, got, last, true)
	if col.bad != nil {
		t.Errorf("undecodable payloads: %v", col.bad)
	}
	// The point name with '/' spans two topic levels.
	if !strings.HasPrefix(got[3].topic, "plant/app-1/dev-0/state/mode") {
		t.Errorf("fourth message on %q", got[3].topic)
	}
	testserver.WaitFor(t, 5*time.Second, "cursor at the last reading", func() bool {
		c, _ := e.Store.Cursor(cfg.CursorName())
		return c == last
	})
	s := p.Stats()
	if s.AckedSeq != last || s.Lag != 0 || s.Published != last || !s.Connected || s.Errors != 0 {
		t.Errorf("stats %+v, want acked %d, lag 0, published %d, connected, no errors", s, last, last)
	}
}

// TestPublishAcrossUpgrade publishes a store upgraded in place: the
// readings of its v1 polls go out as before (unsalted leaf, no salt), those
// of the v2 polls after them with their salt and salted leaf, and each
// message carries the leaf its poll's signature covers.
func TestPublishAcrossUpgrade(t *testing.T) {
	m := testserver.StartMosquitto(t)
	e := newEnv(t, pipelinetest.WithFormat(1))
	col := subscribe(t, m.Addr, "sub-upgrade", "wotchain/#")
	lastV1 := e.ingest(t, 10)
	e.upgrade(t, 2)
	last := e.ingest(t, 10)
	p := e.publisher(t, Config{Broker: "mqtt://" + m.Addr})
	run(t, p)
	testserver.WaitFor(t, 20*time.Second, "all readings at the subscriber", func() bool { return uint64(col.distinct()) >= last })
	got := col.snapshot()
	check(t, e, DefaultTopic, got, last, true)
	salted := 0
	for _, r := range got {
		if v2 := r.msg.Seq > lastV1; v2 != (r.msg.Salt != "") {
			t.Errorf("seq %d (v1 polls end at %d): salt %q", r.msg.Seq, lastV1, r.msg.Salt)
		}
		if r.msg.Salt != "" {
			salted++
		}
	}
	if want := int(last - lastV1); salted != want {
		t.Errorf("%d salted messages, want %d", salted, want)
	}
}

// A publisher without the key tree cannot give a v2 reading its salt: it
// says so rather than publishing an unprovable leaf.
func TestSaltsNeedTheKeyTree(t *testing.T) {
	e := newEnv(t)
	last := e.ingest(t, 2)
	s := salts{st: e.Store}
	if _, err := s.of(last); err == nil || !strings.Contains(err.Error(), "no key tree") {
		t.Fatalf("salt of a v2 reading without the key tree: %v", err)
	}
	s.keys = e.tree
	salt, err := s.of(last)
	if err != nil || salt == nil {
		t.Fatalf("salt of a v2 reading: %v, %v", salt, err)
	}
	if leaf, _ := e.leaf(t, last); !bytes.Equal(reading.SaltedLeafHash(*salt, mustReading(t, e, last)), leaf) {
		t.Fatal("the salt does not give the signed leaf")
	}
}

func mustReading(t *testing.T, e *env, seq uint64) []byte {
	t.Helper()
	raw, err := e.Store.Reading(seq)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestBrokerRestartLosesNothing stops the broker while readings keep being
// stored. Delivery is at-least-once: messages in flight when the broker went
// down are sent again, so the check removes duplicates (by seq) and then
// requires every seq, with the first arrivals in seq order per topic. The
// outage is checked to have happened as intended: the publisher saw the
// broker gone, its acknowledged position did not move, and readings were
// stored meanwhile, which can only reach the subscriber if they are
// published after the broker returns.
func TestBrokerRestartLosesNothing(t *testing.T) {
	m := testserver.StartMosquitto(t)
	e := newEnv(t)
	col := subscribe(t, m.Addr, "sub-restart", "wotchain/#")
	p := e.publisher(t, Config{Broker: "mqtt://" + m.Addr, MaxReconnectDelay: Duration(300 * time.Millisecond)})
	run(t, p)

	var ingested atomic.Uint64
	stopIngest := make(chan struct{})
	ingestDone := make(chan struct{})
	var stopOnce sync.Once
	stopIngesting := func() { stopOnce.Do(func() { close(stopIngest) }); <-ingestDone }
	t.Cleanup(stopIngesting) // before the store closes, also when the test fails early
	go func() {
		defer close(ingestDone)
		for {
			select {
			case <-stopIngest:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if last := e.ingest(t, 1); last != 0 {
				ingested.Store(last)
			}
		}
	}()

	testserver.WaitFor(t, 20*time.Second, "a first part of the stream at the subscriber", func() bool { return col.distinct() >= 200 })
	m.Stop(t)
	testserver.WaitFor(t, 20*time.Second, "the publisher to see the broker gone", func() bool { return !p.Stats().Connected })
	atStop := ingested.Load()
	// The lost connection counts one error; wait for a second, a reconnect
	// attempt failing against the dead broker. By then acknowledgements
	// that arrived before the broker died have been taken into account
	// (they may be handled just after the disconnect is seen); from then on
	// the position must not move.
	testserver.WaitFor(t, 20*time.Second, "a failed reconnect", func() bool { return p.Stats().Errors >= 2 })
	ackedAtStop := p.Stats().AckedSeq
	testserver.WaitFor(t, 10*time.Second, "readings stored during the outage", func() bool { return ingested.Load() >= atStop+300 })
	testserver.WaitFor(t, 20*time.Second, "another failed reconnect", func() bool { return p.Stats().Errors >= 3 })
	if s := p.Stats(); s.AckedSeq != ackedAtStop || s.Connected || s.Lag < 300 {
		t.Fatalf("during the outage: stats %+v; acknowledged position was %d", s, ackedAtStop)
	}
	if ackedAtStop > atStop {
		t.Fatalf("acknowledged %d but only %d stored when the broker stopped", ackedAtStop, atStop)
	}
	m.Restart(t)
	testserver.WaitFor(t, 10*time.Second, "the publisher to reconnect", func() bool { return p.Stats().Connected })
	time.Sleep(200 * time.Millisecond) // ingest on while it catches up
	stopIngesting()
	last := ingested.Load()
	testserver.WaitFor(t, 20*time.Second, "the publisher to catch up", func() bool { return p.Stats().AckedSeq == last })
	testserver.WaitFor(t, 20*time.Second, "every reading at the subscriber", func() bool { return uint64(col.distinct()) >= last })

	dups := check(t, e, DefaultTopic, col.snapshot(), last, false)
	s := p.Stats()
	t.Logf("readings %d, stored during the outage %d, duplicates at the subscriber %d, stats %+v", last, ingested.Load()-atStop, dups, s)
	if s.Errors < 2 || s.Lag != 0 {
		t.Errorf("stats %+v: want errors counted for the outage and no lag", s)
	}
}

// TestPublisherRestartResumes stops the publisher mid-stream and starts a
// new one on the same store: it must publish exactly the readings after the
// durable cursor, not start over.
func TestPublisherRestartResumes(t *testing.T) {
	m := testserver.StartMosquitto(t)
	e := newEnv(t)
	col := subscribe(t, m.Addr, "sub-resume", "wotchain/#")
	cfg := Config{Broker: "mqtt://" + m.Addr, MaxInflight: 4}
	e.ingest(t, 300)
	p1 := e.publisher(t, cfg)
	stop := run(t, p1)
	testserver.WaitFor(t, 20*time.Second, "part of the stream", func() bool { return p1.Stats().AckedSeq >= 100 })
	stop()
	cursor, err := e.Store.Cursor(cfg.CursorName())
	if err != nil {
		t.Fatal(err)
	}
	if cursor != p1.Stats().AckedSeq || cursor >= 1200 {
		t.Fatalf("cursor %d after stop, stats %+v: want the acknowledged position, before the end", cursor, p1.Stats())
	}
	last := e.ingest(t, 50)
	p2 := e.publisher(t, cfg)
	run(t, p2)
	testserver.WaitFor(t, 20*time.Second, "the second publisher to catch up", func() bool { return p2.Stats().AckedSeq == last })
	if got := p2.Stats().Published; got != last-cursor {
		t.Errorf("second publisher published %d, want %d (from cursor %d to %d)", got, last-cursor, cursor, last)
	}
	testserver.WaitFor(t, 20*time.Second, "every reading at the subscriber", func() bool { return uint64(col.distinct()) >= last })
	check(t, e, DefaultTopic, col.snapshot(), last, true)
}

func TestTLSWithAuth(t *testing.T) {
	m := testserver.StartMosquitto(t)
	if m.Username == "" {
		testserver.MissingServer(t, "mosquitto_passwd is not installed")
	}
	e := newEnv(t)
	col := subscribe(t, m.Addr, "sub-tls", "wotchain/#")
	last := e.ingest(t, 5)
	good := Config{
		Broker:   "mqtts://" + m.TLSAddr,
		Username: m.Username, PasswordFile: m.PasswordFile,
		TLS:        TLS{CAFile: m.CAFile, CertFile: m.ClientCertFile, KeyFile: m.ClientKeyFile},
		AckTimeout: Duration(5 * time.Second),
	}
	wrongPW := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(wrongPW, []byte("not-the-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	refused := []struct {
		name string
		mod  func(*Config)
	}{
		{"wrong password", func(c *Config) { c.PasswordFile = wrongPW }},
		{"no client certificate", func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = "", "" }},
		{"unknown CA", func(c *Config) { c.TLS.CAFile = "" }},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			cfg.Name = "refused"
			tc.mod(&cfg)
			p := e.publisher(t, cfg)
			stop := run(t, p)
			testserver.WaitFor(t, 10*time.Second, "a failed connect", func() bool { return p.Stats().Errors > 0 })
			stop()
			s := p.Stats()
			if s.Connected || s.AckedSeq != 0 || s.Published != 0 || s.LastError == "" {
				t.Errorf("stats %+v: want refused, nothing acknowledged", s)
			}
			if c, _ := e.Store.Cursor(cfg.CursorName()); c != 0 {
				t.Errorf("cursor moved to %d", c)
			}
			t.Logf("refused as expected: %s", s.LastError)
		})
	}
	if n := col.distinct(); n != 0 {
		t.Fatalf("refused publishers delivered %d messages", n)
	}

	p := e.publisher(t, good)
	run(t, p)
	testserver.WaitFor(t, 20*time.Second, "readings over TLS", func() bool { return uint64(col.distinct()) >= last && p.Stats().AckedSeq == last })
	check(t, e, DefaultTopic, col.snapshot(), last, true)
	if s := p.Stats(); !s.Connected || s.AckedSeq != last {
		t.Errorf("stats %+v", s)
	}
}

func TestNewRefusesUnreadableSecrets(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	open := filepath.Join(dir, "pw-open")
	if err := os.WriteFile(open, []byte("pw\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "pw-empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"world-readable password file", Config{Broker: "mqtt://h", Username: "u", PasswordFile: open}, "must not be accessible by group or others"},
		{"empty password file", Config{Broker: "mqtt://h", Username: "u", PasswordFile: empty}, "is empty"},
		{"missing password file", Config{Broker: "mqtt://h", Username: "u", PasswordFile: filepath.Join(dir, "nope")}, "no such file"},
		{"unset password env", Config{Broker: "mqtt://h", Username: "u", PasswordEnv: "WOTCHAIN_TEST_UNSET_PW"}, "WOTCHAIN_TEST_UNSET_PW is not set"},
		{"missing CA", Config{Broker: "mqtts://h", TLS: TLS{CAFile: filepath.Join(dir, "ca.pem")}}, "tls.ca_file"},
		{"invalid config", Config{Broker: "http://h"}, "broker: scheme must be mqtt or mqtts"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, e.Store, Options{ApplianceID: appID})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestDeletedReadingsSkipped drops the oldest sealed block (the disk
// budget's drop_oldest_unanchored) before it was published: the publisher
// must pass over exactly that block and publish the rest, not stall.
func TestDeletedReadingsSkipped(t *testing.T) {
	m := testserver.StartMosquitto(t)
	e := newEnv(t, pipelinetest.WithMaxReadings(40))
	col := subscribe(t, m.Addr, "sub-deleted", "wotchain/#")
	last := e.ingest(t, 30) // 120 readings
	e.Seal(t)
	rec := e.DropOldest(t, retention.New(e.Store, retention.Policy{}, slog.New(slog.DiscardHandler)).DropOldest)
	if rec.FirstSeq != 1 || rec.LastSeq < 4 || rec.LastSeq >= last {
		t.Fatalf("dropped block holds %d..%d", rec.FirstSeq, rec.LastSeq)
	}
	p := e.publisher(t, Config{Broker: "mqtt://" + m.Addr})
	run(t, p)
	testserver.WaitFor(t, 20*time.Second, "the publisher to catch up", func() bool { return p.Stats().AckedSeq == last })
	testserver.WaitFor(t, 20*time.Second, "the readings at the subscriber", func() bool { return uint64(col.distinct()) >= last-rec.LastSeq })
	time.Sleep(100 * time.Millisecond) // anything extra would arrive now
	got := col.snapshot()
	for _, r := range got {
		if r.msg.Seq <= rec.LastSeq {
			t.Errorf("deleted reading %d was published", r.msg.Seq)
		}
	}
	if uint64(len(got)) != last-rec.LastSeq {
		t.Errorf("%d messages, want %d (seq %d..%d)", len(got), last-rec.LastSeq, rec.LastSeq+1, last)
	}
	if s := p.Stats(); s.Skipped != rec.LastSeq || s.Published != last-rec.LastSeq || s.Lag != 0 {
		t.Errorf("stats %+v, want %d skipped, %d published", s, rec.LastSeq, last-rec.LastSeq)
	}
}

// BenchmarkPublish measures how the in-flight window affects throughput
// (readings acknowledged per second, cursor writes included) against a
// local broker, directly and through a proxy adding 5 ms each way (a WAN
// link); it chose DefaultMaxInflight. Run with -benchtime 2000x: with a
// window of 1 and the delay, each reading costs a round trip.
func BenchmarkPublish(b *testing.B) {
	for _, delay := range []time.Duration{0, 5 * time.Millisecond} {
		for _, window := range []int{1, 8, 64, 256} {
			b.Run(fmt.Sprintf("delay=%s/inflight=%d", delay, window), func(b *testing.B) {
				benchPublish(b, delay, window)
			})
		}
	}
}

func benchPublish(b *testing.B, delay time.Duration, window int) {
	m := testserver.StartMosquitto(b)
	addr := m.Addr
	if delay > 0 {
		addr = delayProxy(b, m.Addr, delay)
	}
	c := pipelinetest.New(b)
	samples := make([]protocols.Sample, 100)
	for i := range samples {
		samples[i] = protocols.Sample{Point: fmt.Sprintf("p%d", i), Value: float64(i), Quality: protocols.Good}
	}
	var last uint64
	for range (b.N + 99) / 100 {
		_, last = c.IngestPoll(b, "dev", time.Now(), samples...)
	}
	p, err := New(Config{Broker: "mqtt://" + addr, MaxInflight: window}, c.Store, Options{ApplianceID: appID})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	for p.Stats().AckedSeq < last {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(last)/b.Elapsed().Seconds(), "readings/s")
	cancel()
	<-done
}

// delayProxy forwards TCP connections to target on 127.0.0.1, delivering
// every chunk delay after it was read, in order.
func delayProxy(tb testing.TB, target string, delay time.Duration) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	pipe := func(dst, src net.Conn) {
		type chunk struct {
			due  time.Time
			data []byte
		}
		q := make(chan chunk, 4096)
		go func() {
			defer dst.Close()
			for c := range q {
				time.Sleep(time.Until(c.due))
				if _, err := dst.Write(c.data); err != nil {
					return
				}
			}
		}()
		defer close(q)
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{time.Now().Add(delay), append([]byte(nil), buf[:n]...)}
			}
			if err != nil {
				return
			}
		}
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go pipe(up, c)
			go pipe(c, up)
		}
	}()
	return l.Addr().String()
}
