package grantpub

import (
	"bytes"
	"context"
	"crypto/hpke"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/keytree"
	"github.com/wotchain/wotchain/bridge/livegrant"
	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/bridge/publish"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/internal/testserver"
	"github.com/wotchain/wotchain/protocols"
)

// fakeLedger serves grants the test can revoke.
type fakeLedger struct {
	mu     sync.Mutex
	grants []*rules.Grant
}

func (l *fakeLedger) ListGrants(context.Context, string, int, string) (*rules.GrantPage, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*rules.Grant, len(l.grants))
	for i, g := range l.grants {
		c := *g
		out[i] = &c
	}
	return &rules.GrantPage{Grants: out}, nil
}

func (l *fakeLedger) revoke(id string, at int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, g := range l.grants {
		if g.ID == id {
			g.RevokedAt = at
		}
	}
}

// capture is a subscriber to everything, as the broker operator.
type capture struct {
	mu   sync.Mutex
	msgs []mqtt.Message
}

func (c *capture) all() []mqtt.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]mqtt.Message(nil), c.msgs...)
}

// listen subscribes to "#" as user (none: anonymous) with password.
func listen(t *testing.T, addr, user, password string) *capture {
	t.Helper()
	c := &capture{}
	h := func(_ mqtt.Client, m mqtt.Message) { c.mu.Lock(); c.msgs = append(c.msgs, m); c.mu.Unlock() }
	opts := mqtt.NewClientOptions().AddBroker("mqtt://" + addr).SetClientID("listen-" + user).SetProtocolVersion(4)
	if user != "" {
		opts.SetUsername(user).SetPassword(password)
	}
	cl := mqtt.NewClient(opts)
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	if tok := cl.Subscribe("#", 1, h); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	t.Cleanup(func() { cl.Disconnect(100) })
	return c
}

// opened is what a partner with priv reads of grant's messages in msgs:
// the payloads, verified against the appliance key.
func opened(t *testing.T, chain *pipelinetest.Chain, msgs []mqtt.Message, grant string, priv hpke.PrivateKey) map[uint64]livegrant.Payload {
	t.Helper()
	ks := map[uint64][]*livegrant.EpochKey{}
	for _, m := range msgs {
		if !strings.Contains(m.Topic(), "/keys/") {
			continue
		}
		var km livegrant.KeyMessage
		if err := json.Unmarshal(m.Payload(), &km); err != nil {
			t.Fatal(err)
		}
		if ek, err := km.Unwrap(priv); err == nil {
			if km.Grant != grant {
				t.Fatalf("partner of %s unwrapped a key of grant %s", grant, km.Grant)
			}
			ks[ek.Epoch] = append(ks[ek.Epoch], ek)
		}
	}
	out := map[uint64]livegrant.Payload{}
	for _, m := range msgs {
		if !strings.HasSuffix(m.Topic(), "/data") {
			continue
		}
		var s livegrant.Sealed
		if err := json.Unmarshal(m.Payload(), &s); err != nil {
			t.Fatal(err)
		}
		for _, ek := range ks[s.Epoch] {
			if ek.Grant != s.Grant {
				continue
			}
			plain, err := livegrant.Open(ek, &s)
			if err != nil {
				continue
			}
			var p livegrant.Payload
			if err := json.Unmarshal(plain, &p); err != nil {
				t.Fatal(err)
			}
			if err := p.Verify(chain.Public); err != nil {
				t.Fatalf("reading %d: %v", p.Seq, err)
			}
			out[p.Seq] = p
		}
	}
	return out
}

// Partners A and B with different grants, each confined by the documented
// ACL (docs/examples/mosquitto-acl.conf), each read exactly their granted
// readings; the broker operator's capture of everything holds no
// plaintext; after A's revocation, A reads nothing taken from it on.
func TestGrantStreams(t *testing.T) {
	acl, err := os.ReadFile("../../docs/examples/mosquitto-acl.conf")
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]string{"wotchain-appliance": "pw-app", "partner-a": "pw-a", "partner-b": "pw-b", "owner": "pw-owner"}
	m := testserver.StartMosquittoACL(t, users, string(acl))
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("pw-app\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var mgr atomic.Pointer[Manager]
	chain := pipelinetest.New(t, pipelinetest.WithFormat(2), pipelinetest.WithCommitted(func(last uint64) {
		if p := mgr.Load(); p != nil {
			p.Notify(last)
		}
	}))
	start := chain.Clock
	privA := pipelinetest.NewKey(t, keys.KEMX25519)
	privB := pipelinetest.NewKey(t, keys.KEMX25519)
	end := start.Add(time.Hour).UnixNano()
	ga := &rules.Grant{ID: "A", ApplianceID: chain.ApplianceID, PartnerKEM: privA.KEM().ID(), PartnerKey: privA.PublicKey().Bytes(), Devices: []string{"dev-0"}, From: start.UnixNano(), To: end}
	gb := &rules.Grant{ID: "B", ApplianceID: chain.ApplianceID, PartnerKEM: privB.KEM().ID(), PartnerKey: privB.PublicKey().Bytes(), Devices: []string{"dev-1", "dev-2"}, From: start.Add(2 * time.Second).UnixNano(), To: end}
	led := &fakeLedger{grants: []*rules.Grant{ga, gb}}
	capt := listen(t, m.Addr, "", "") // the broker operator: everything relayed
	captA := listen(t, m.ACLAddr, "partner-a", "pw-a")
	captB := listen(t, m.ACLAddr, "partner-b", "pw-b")

	ingest := func(n int, from int) {
		for i := range n {
			k := from + i
			at := start.Add(time.Duration(k) * 100 * time.Millisecond)
			chain.IngestPoll(t, fmt.Sprintf("dev-%d", k%3), at,
				protocols.Sample{Point: "temperature", Value: 1000.5 + float64(k), Quality: protocols.Good},
				protocols.Sample{Point: "secret", Value: fmt.Sprintf("plain-%05d", k), Quality: protocols.Good})
		}
	}
	ingest(30, 0) // stored before the manager starts: catch-up

	man := New(chain.Store, led, Options{
		ApplianceID: chain.ApplianceID,
		MQTT:        publish.Config{Broker: "mqtt://" + m.ACLAddr, Username: "wotchain-appliance", PasswordFile: pwFile},
		Publish:     publish.Options{PollKeys: keytree.New(keytree.TreeSecret(chain.Key))},
		Rotation:    time.Second, Refresh: 50 * time.Millisecond,
	})
	mgr.Store(man)
	man.Notify(chain.LastSeq())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); man.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	want := func(g *rules.Grant, revoked int64) map[uint64]bool {
		out := map[uint64]bool{}
		for _, r := range chain.Readings {
			gg := *g
			gg.RevokedAt = revoked
			if livegrant.Covers(&gg, r.Device, r.At.UnixNano()) {
				out[r.Seq] = true
			}
		}
		return out
	}
	same := func(got map[uint64]livegrant.Payload, want map[uint64]bool) bool {
		if len(got) != len(want) {
			return false
		}
		for s := range got {
			if !want[s] {
				return false
			}
		}
		return true
	}
	testserver.WaitFor(t, 20*time.Second, "A and B caught up", func() bool {
		return same(opened(t, chain, captA.all(), "A", privA), want(ga, 0)) && same(opened(t, chain, captB.all(), "B", privB), want(gb, 0))
	})
	ingest(30, 30)
	revokeAt := start.Add(60 * 100 * time.Millisecond).UnixNano() // after everything stored so far, as a ledger clock would
	led.revoke("A", revokeAt)
	time.Sleep(300 * time.Millisecond) // a few refreshes: the manager knows
	ingest(30, 60)
	testserver.WaitFor(t, 20*time.Second, "B caught up", func() bool {
		return same(opened(t, chain, captB.all(), "B", privB), want(gb, 0))
	})
	time.Sleep(300 * time.Millisecond)
	msgs := capt.all()
	gotA := opened(t, chain, captA.all(), "A", privA)
	// The ACL: each partner got only its grant's topics.
	for who, c := range map[string]*capture{"A": captA, "B": captB} {
		for _, msg := range c.all() {
			if !strings.HasPrefix(msg.Topic(), GrantTopic(chain.ApplianceID, who)+"/") {
				t.Fatalf("partner %s received topic %s", who, msg.Topic())
			}
		}
	}
	// Even with every message relayed (the operator's capture), A's key
	// opens no more than A's own.
	if all := opened(t, chain, msgs, "A", privA); len(all) != len(gotA) {
		t.Fatalf("A opens %d readings of the whole capture, %d of its own", len(all), len(gotA))
	}
	if !same(gotA, want(ga, revokeAt)) {
		t.Fatalf("A read %d readings, want %d (revoked after poll 59)", len(gotA), len(want(ga, revokeAt)))
	}
	for s, p := range gotA {
		if p.Device != "dev-0" {
			t.Fatalf("A read reading %d of %s", s, p.Device)
		}
	}
	if len(want(ga, revokeAt)) == len(want(ga, 0)) {
		t.Fatal("the revocation cut nothing: the test proves nothing")
	}
	// opened fails the test if a partner unwraps a key of another grant.
	opened(t, chain, msgs, "B", privB)
	// No plaintext in anything the broker relayed.
	for _, msg := range msgs {
		for _, r := range chain.Readings {
			if s, ok := r.Value.(string); ok && bytes.Contains(msg.Payload(), []byte(s)) {
				t.Fatalf("topic %s carries plaintext %q", msg.Topic(), s)
			}
		}
		if bytes.Contains(msg.Payload(), []byte("temperature")) || strings.Contains(msg.Topic(), "dev-") {
			t.Fatalf("topic %s or its payload names a point or device", msg.Topic())
		}
	}
}
