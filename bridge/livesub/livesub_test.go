package livesub

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/grantpub"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/keytree"
	"github.com/wotchain/wotchain/bridge/livegrant"
	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/bridge/publish"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/internal/testserver"
	"github.com/wotchain/wotchain/protocols"
)

type ledger struct{ grants []*rules.Grant }

func (l *ledger) ListGrants(context.Context, string, int, string) (*rules.GrantPage, error) {
	return &rules.GrantPage{Grants: l.grants}, nil
}

// lines reads the output's readings.
func lines(t *testing.T, path string) []Line {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []Line
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l == "" {
			continue
		}
		var x Line
		if err := json.Unmarshal([]byte(l), &x); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		out = append(out, x)
	}
	return out
}

// A partner stopped mid-stream and started again (from its state file and
// output) misses nothing and repeats nothing; every line is signed by the
// appliance and within the grant.
func TestRestartMissesAndRepeatsNothing(t *testing.T) {
	m := testserver.StartMosquitto(t)
	var mgr atomic.Pointer[grantpub.Manager]
	chain := pipelinetest.New(t, pipelinetest.WithFormat(2), pipelinetest.WithCommitted(func(last uint64) {
		if p := mgr.Load(); p != nil {
			p.Notify(last)
		}
	}))
	start := chain.Clock
	priv := pipelinetest.NewKey(t, keys.KEMX25519)
	g := &rules.Grant{ID: "G", ApplianceID: chain.ApplianceID, PartnerKEM: priv.KEM().ID(), PartnerKey: priv.PublicKey().Bytes(),
		Devices: []string{"dev-0", "dev-1"}, From: start.UnixNano(), To: start.Add(time.Hour).UnixNano()}
	man := grantpub.New(chain.Store, &ledger{grants: []*rules.Grant{g}}, grantpub.Options{
		ApplianceID: chain.ApplianceID,
		MQTT:        publish.Config{Broker: "mqtt://" + m.Addr},
		Publish:     publish.Options{PollKeys: keytree.New(keytree.TreeSecret(chain.Key))},
		Rotation:    500 * time.Millisecond, Refresh: 50 * time.Millisecond,
	})
	mgr.Store(man)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); man.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	k := 0
	ingest := func(n int) {
		for range n {
			at := start.Add(time.Duration(k) * 50 * time.Millisecond)
			chain.IngestPoll(t, fmt.Sprintf("dev-%d", k%3), at,
				protocols.Sample{Point: "v", Value: float64(k), Quality: protocols.Good},
				protocols.Sample{Point: "w", Value: int64(k), Quality: protocols.Good})
			k++
		}
	}
	dir := t.TempDir()
	outPath, statePath := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "out.state")
	partner := func() (stop func()) {
		out, err := os.OpenFile(outPath, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		sub, err := New(priv, []ed25519.PublicKey{chain.Public}, []string{"G"}, statePath, out)
		if err != nil {
			t.Fatal(err)
		}
		if err := sub.Resume(out); err != nil {
			t.Fatal(err)
		}
		pctx, pcancel := context.WithCancel(context.Background())
		pdone := make(chan error, 1)
		go func() {
			pdone <- sub.Run(pctx, Broker{URL: "mqtt://" + m.Addr, ClientID: "partner-g"}, chain.ApplianceID, []string{"G"})
		}()
		select {
		case <-sub.Ready():
		case err := <-pdone:
			t.Fatalf("partner: %v", err)
		case <-time.After(20 * time.Second):
			t.Fatal("partner not subscribed")
		}
		return func() {
			pcancel()
			if err := <-pdone; err != nil {
				t.Errorf("partner: %v", err)
			}
			out.Close()
		}
	}
	want := func() []uint64 {
		var out []uint64
		for _, r := range chain.Readings {
			if livegrant.Covers(g, r.Device, r.At.UnixNano()) {
				out = append(out, r.Seq)
			}
		}
		return out
	}
	stop := partner()
	ingest(40)
	testserver.WaitFor(t, 20*time.Second, "a first part at the partner", func() bool { return len(lines(t, outPath)) >= 20 })
	stop() // mid-stream, messages still coming
	ingest(40)
	time.Sleep(300 * time.Millisecond)
	stop = partner()
	ingest(20)
	testserver.WaitFor(t, 20*time.Second, "everything at the partner", func() bool { return len(lines(t, outPath)) >= len(want()) })
	time.Sleep(300 * time.Millisecond)
	stop()
	var got []uint64
	for _, l := range lines(t, outPath) {
		if l.Check == "anchored and verified" {
			continue
		}
		if l.Check != "signed" || l.Grant != "G" || (l.Device != "dev-0" && l.Device != "dev-1") {
			t.Fatalf("line %+v", l)
		}
		got = append(got, l.Seq)
	}
	if fmt.Sprint(got) != fmt.Sprint(want()) {
		t.Fatalf("partner wrote\n %v\nwant\n %v", got, want())
	}

	// Later the blocks are anchored: each reading received is then
	// reported anchored and verified, once.
	out, err := os.OpenFile(outPath, os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	sub, err := New(priv, []ed25519.PublicKey{chain.Public}, []string{"G"}, statePath, out)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := sub.CheckAnchored(ctx, chain.Ledger, chain.Storage); n != 0 || err != nil {
		t.Fatalf("before anchoring: %d verified, %v", n, err)
	}
	chain.Seal(t)
	chain.Drain(t)
	n, err := sub.CheckAnchored(ctx, chain.Ledger, chain.Storage)
	if err != nil || n != len(want()) {
		t.Fatalf("after anchoring: %d verified of %d, %v", n, len(want()), err)
	}
	var anchored []uint64
	for _, l := range lines(t, outPath) {
		if l.Check == "anchored and verified" {
			anchored = append(anchored, l.Seq)
		}
	}
	if fmt.Sprint(anchored) != fmt.Sprint(want()) {
		t.Fatalf("anchored and verified\n %v\nwant\n %v", anchored, want())
	}
	if n, err := sub.CheckAnchored(ctx, chain.Ledger, chain.Storage); n != 0 || err != nil {
		t.Fatalf("again: %d verified, %v", n, err)
	}
}

// What the subscriber could not make durable is marked ErrNotDurable, so
// the MQTT handler leaves it unacknowledged and the broker sends it again;
// a message that fails its checks is not (acknowledged, and reported).
func TestNotDurableIsMarked(t *testing.T) {
	priv := pipelinetest.NewKey(t, keys.KEMX25519)
	ek, err := livegrant.NewEpochKey("G", 1)
	if err != nil {
		t.Fatal(err)
	}
	km, err := livegrant.Wrap(ek, priv.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(km)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	statePath := filepath.Join(dir, "state", "out.state")
	if err := os.Mkdir(filepath.Dir(statePath), 0o700); err != nil {
		t.Fatal(err)
	}
	sub, err := New(priv, nil, []string{"G"}, statePath, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	// The state's directory is gone: the epoch key cannot be kept.
	if err := os.Remove(filepath.Dir(statePath)); err != nil {
		t.Fatal(err)
	}
	topic := grantpub.GrantTopic("app", "G")
	if err := sub.Handle(topic+"/keys/1", payload); !errors.Is(err, ErrNotDurable) {
		t.Fatalf("key message with no place for the state: %v, want ErrNotDurable", err)
	}
	if err := sub.Handle(topic+"/data", []byte("{not json")); err == nil || errors.Is(err, ErrNotDurable) {
		t.Fatalf("malformed message: %v, want an error other than ErrNotDurable", err)
	}
}
