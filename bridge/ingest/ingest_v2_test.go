package ingest

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/keytree"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/protocols"
)

// storedPoll is a stored poll, decoded, with its readings.
type storedPoll struct {
	rec      *reading.PollRecord
	readings []*reading.Reading
	raws     [][]byte
}

func storedPolls(t *testing.T, st *store.Store) []storedPoll {
	t.Helper()
	var out []storedPoll
	if err := st.Polls(1, func(_ uint64, rec []byte) (bool, error) {
		p, err := reading.DecodePoll(rec)
		if err != nil {
			return false, err
		}
		raws, err := st.Readings(p.FirstSeq, p.LastSeq)
		if err != nil {
			return false, err
		}
		sp := storedPoll{rec: p, raws: raws}
		for _, raw := range raws {
			r, err := reading.Decode(raw)
			if err != nil {
				return false, err
			}
			sp.readings = append(sp.readings, r)
		}
		out = append(out, sp)
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkV2Polls checks every stored poll is a valid v2 poll (one device,
// one time, salted leaves from the tree, root and signature), and that each
// device's poll indices run 0, 1, 2, ... in seq order without a repeat.
func checkV2Polls(t *testing.T, st *store.Store, pub ed25519.PublicKey, tree *keytree.Tree) []storedPoll {
	t.Helper()
	polls := storedPolls(t, st)
	next := map[string]uint64{}
	for _, p := range polls {
		if p.rec.Version() != reading.PollV2 {
			t.Fatalf("poll %d..%d is v%d", p.rec.FirstSeq, p.rec.LastSeq, p.rec.Version())
		}
		for _, r := range p.readings {
			if r.DeviceID != p.rec.DeviceID || r.ApplianceTime != p.readings[0].ApplianceTime {
				t.Fatalf("poll %d..%d holds reading %d of %s at %d", p.rec.FirstSeq, p.rec.LastSeq, r.Seq, r.DeviceID, r.ApplianceTime)
			}
		}
		leaves, err := p.rec.Leaves(p.raws, tree)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.rec.Verify(pub, leaves); err != nil {
			t.Fatalf("poll %d..%d: %v", p.rec.FirstSeq, p.rec.LastSeq, err)
		}
		if err := p.rec.VerifySignature(pub); err != nil {
			t.Fatal(err)
		}
		if p.rec.PollIndex != next[p.rec.DeviceID] {
			t.Fatalf("poll %d..%d is poll %d of %s, want %d", p.rec.FirstSeq, p.rec.LastSeq, p.rec.PollIndex, p.rec.DeviceID, next[p.rec.DeviceID])
		}
		next[p.rec.DeviceID]++
	}
	for device, n := range next {
		if got, err := st.NextPollIndex(device); err != nil || got != n {
			t.Fatalf("NextPollIndex(%s) = %d, %v; %d polls stored", device, got, err, n)
		}
	}
	return polls
}

func pushed(point string, at time.Time) protocols.Sample {
	return protocols.Sample{Point: point, Value: 1.5, Quality: protocols.Good, Received: at}
}

// v2App is a v2 ingester's directory and keys: what starting it, and
// restarting it on the same store, needs.
type v2App struct {
	dir  string
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
	tree *keytree.Tree
}

func newV2App(t *testing.T) *v2App {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	return &v2App{dir: t.TempDir(), pub: pub, priv: priv, tree: keytree.New(keytree.TreeSecret(priv))}
}

// open opens the store and a v2 ingester of app-1 on it: a first start, or
// a restart on the same directory.
func (a *v2App) open(t *testing.T) (*store.Store, *Ingester) {
	t.Helper()
	st, err := store.Open(a.dir)
	if err != nil {
		t.Fatal(err)
	}
	in, err := New(st, "app-1", a.priv, nil, WithFormat(2))
	if err != nil {
		t.Fatal(err)
	}
	return st, in
}

// Samples of three distinct appliance times become three v2 polls with
// consecutive indices, in the samples' order; indices go on per device
// across calls and across a restart, and never repeat.
func TestIngestV2SplitsPollsByTime(t *testing.T) {
	app := newV2App(t)
	st, in := app.open(t)
	at := time.Unix(1_700_000_000, 0)
	t1, t2, t3 := at.Add(-3*time.Second), at.Add(-2*time.Second), at.Add(-time.Second)
	samples := []protocols.Sample{pushed("a", t1), pushed("b", t1), pushed("c", t2), pushed("d", t3), pushed("e", t3)}
	if first, last, err := in.Ingest("press", samples, at); err != nil || first != 1 || last != 5 {
		t.Fatalf("Ingest = %d..%d, %v", first, last, err)
	}
	polls := checkV2Polls(t, st, app.pub, app.tree)
	type shape struct {
		first, last, index uint64
		points             string
		time               int64
	}
	var got []shape
	for _, p := range polls {
		var points string
		for _, r := range p.readings {
			points += r.Point
		}
		got = append(got, shape{p.rec.FirstSeq, p.rec.LastSeq, p.rec.PollIndex, points, p.readings[0].ApplianceTime})
	}
	want := []shape{{1, 2, 0, "ab", t1.UnixNano()}, {3, 3, 1, "c", t2.UnixNano()}, {4, 5, 2, "de", t3.UnixNano()}}
	if !slices.Equal(got, want) {
		t.Fatalf("polls %+v, want %+v", got, want)
	}

	// Times that come back are new polls: order is kept, never regrouped.
	if _, _, err := in.Ingest("press", []protocols.Sample{pushed("f", t1), pushed("g", t2), pushed("h", t1)}, at); err != nil {
		t.Fatal(err)
	}
	// Polled samples (no push time) take the poll's time: one poll.
	polled := []protocols.Sample{{Point: "x", Value: 1.0, Quality: protocols.Good}, {Point: "y", Value: 2.0, Quality: protocols.Good}}
	if _, _, err := in.Ingest("oven", polled, at); err != nil {
		t.Fatal(err)
	}
	if len(checkV2Polls(t, st, app.pub, app.tree)) != 7 {
		t.Fatal("want 7 polls")
	}
	st.Close()

	st, in = app.open(t)
	defer st.Close()
	for _, device := range []string{"oven", "press", "boiler"} {
		if _, _, err := in.Ingest(device, polled, at.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	polls = checkV2Polls(t, st, app.pub, app.tree)
	var indices []string
	for _, p := range polls[7:] {
		indices = append(indices, fmt.Sprintf("%s/%d", p.rec.DeviceID, p.rec.PollIndex))
	}
	if fmt.Sprint(indices) != "[oven/1 press/6 boiler/0]" {
		t.Fatalf("after a restart: %v", indices)
	}
}

// A poll that was never stored gives its indices back; one that was stored
// keeps them, also when the appliance stops (crash) right after it: the
// next ingester, on the reopened store, numbers on after it and reuses no
// index of a stored poll.
func TestIngestV2IndicesAfterFailureAndCrash(t *testing.T) {
	app := newV2App(t)
	st, in := app.open(t)
	at := time.Unix(1_700_000_000, 0)
	two := []protocols.Sample{pushed("a", at), pushed("b", at.Add(time.Second))}
	if _, _, err := in.Ingest("press", two, at); err != nil { // polls 0 and 1
		t.Fatal(err)
	}
	errDisk := errors.New("disk on fire")
	in.commit = func([]store.Poll) error { return errDisk }
	if _, _, err := in.Ingest("press", two, at); !errors.Is(err, errDisk) {
		t.Fatalf("failing commit: %v", err)
	}
	in.commit = st.CommitPolls
	if _, _, err := in.Ingest("press", two[:1], at); err != nil { // poll 2: the failed polls' index again
		t.Fatal(err)
	}
	// The crash: the ingester is dropped with its reservations, and the
	// store reopened without a clean shutdown of the ingester.
	st.Close()
	st, in = app.open(t)
	defer st.Close()
	if _, _, err := in.Ingest("press", two, at); err != nil { // polls 3 and 4
		t.Fatal(err)
	}
	polls := checkV2Polls(t, st, app.pub, app.tree)
	if len(polls) != 5 || polls[4].rec.PollIndex != 4 || polls[4].rec.FirstSeq != 5 {
		t.Fatalf("%d polls, last %+v", len(polls), polls[len(polls)-1].rec)
	}
	// Distinct indices mean distinct poll keys: no two stored polls share
	// a salt or a section key.
	keys := map[[32]byte]bool{}
	for _, p := range polls {
		keys[app.tree.PollKey(p.rec.DeviceID, p.rec.PollIndex)] = true
	}
	if len(keys) != len(polls) {
		t.Fatalf("%d poll keys for %d polls", len(keys), len(polls))
	}
}

// The default is v1, exactly as before: one v1 record per call, whatever
// the samples' times, and no poll index; an unknown format is refused.
func TestIngestDefaultV1(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	in, err := New(st, "app-1", priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1_700_000_000, 0)
	if _, _, err := in.Ingest("press", []protocols.Sample{pushed("a", at), pushed("b", at.Add(time.Second))}, at); err != nil {
		t.Fatal(err)
	}
	polls := storedPolls(t, st)
	if len(polls) != 1 || polls[0].rec.Version() != reading.PollV1 {
		t.Fatalf("%d polls, first %+v", len(polls), polls[0].rec)
	}
	leaves, _ := polls[0].rec.Leaves(polls[0].raws, nil)
	if err := polls[0].rec.Verify(pub, leaves); err != nil {
		t.Fatal(err)
	}
	if n, err := st.NextPollIndex("press"); err != nil || n != 0 {
		t.Fatalf("v1 ingest moved the poll index to %d, %v", n, err)
	}
	for _, f := range []int{-1, 3} {
		if _, err := New(st, "app-1", priv, nil, WithFormat(f)); err == nil {
			t.Fatalf("format %d accepted", f)
		}
	}
	if _, err := New(st, "app-1", priv[:10], nil, WithFormat(2)); err == nil {
		t.Fatal("v2 with a short signing key accepted")
	}
}
