// Package ingest is the acknowledging edge of the pipeline: it gives each
// poll's samples their sequence numbers, normalises them, signs the poll and
// writes it durably. A poll counts as taken only when Ingest returns nil.
//
// Concurrent polls are group-committed: each caller reserves its sequence
// range, encodes, hashes and signs its own poll in its own goroutine (so
// signing uses every core), and one committer writes every poll that is
// ready, in sequence order, in one synced RocksDB batch. Each caller returns
// only after the batch holding its poll is durable. With one device polling
// at a time this is exactly one synced write per poll, as before; with many
// devices one fsync serves many polls.
//
// By default ingest writes v1 polls: one poll record per Ingest call. With
// WithFormat(2) it writes v2 polls (block format v2, issue #18): a call's
// samples are split into consecutive polls of one appliance time each, and
// each poll gets its device's next poll index, its keys from the key tree
// of the signing key (bridge/keytree), salted leaves, a poll root and a v2
// signature. The index is stored in the poll's own batch (store.Poll).
package ingest

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wotchain/wotchain/bridge/keytree"
	"github.com/wotchain/wotchain/bridge/normalise"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/protocols"
)

// maxGroupReadings bounds one group commit, so that a burst of large polls
// does not build one huge write batch (memory) or hold the first caller of
// the group for long. A single poll larger than this is still committed, alone.
const maxGroupReadings = 50_000

// Ingester assigns gap-free sequence numbers and commits polls durably. It
// is safe for concurrent use.
type Ingester struct {
	applianceID string
	key         ed25519.PrivateKey
	committed   func(lastSeq uint64)
	commit      func([]store.Poll) error // the store's CommitPolls; tests replace it

	// v2 only (format 2): the key tree of key, and the store's durable
	// next poll index of a device.
	format        int
	tree          *keytree.Tree
	nextPollIndex func(device string) (uint64, error)

	mu         sync.Mutex
	next       uint64            // first seq of the next reservation
	pollIndex  map[string]uint64 // v2: next poll index of each device seen, reservations counted
	queue      []*ticket         // reserved polls not yet taken by the committer, in seq order
	committing bool              // a committer goroutine is running
}

// ticket is one Ingest call on its way through the group commit: one poll
// in v1, one or more in v2. Its fields other than polls are guarded by
// Ingester.mu; done is closed when err is final.
type ticket struct {
	first      uint64 // first seq of its reservation
	readings   int    // samples of the call
	device     string
	indexed    bool   // v2: firstIndex.. are its polls' indices
	firstIndex uint64 // v2
	polls      []store.Poll
	ready      bool // prepared: encoded and signed
	err        error
	done       chan struct{}
}

// Option changes how New sets up the ingester.
type Option func(*options)

type options struct{ format int }

// WithFormat selects the block format whose polls ingest writes: 1 (the
// default; 0 means the default too) or 2.
func WithFormat(format int) Option { return func(o *options) { o.format = format } }

// errEarlierFailed is what polls get when a poll before them failed: their
// sequence numbers followed the failed ones, so they must be numbered again.
var errEarlierFailed = errors.New("ingest: an earlier poll of the same commit group failed; poll not stored")

// New resumes numbering after the last durable reading. committed, if not
// nil, is called after each durable group of polls with the last durable
// seq, before any of its callers return (the sealer listens). It is called
// from one goroutine at a time, in seq order, and must not block.
func New(st *store.Store, applianceID string, key ed25519.PrivateKey, committed func(lastSeq uint64), opts ...Option) (*Ingester, error) {
	o := options{format: 1}
	for _, opt := range opts {
		opt(&o)
	}
	next, err := st.NextSeq()
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	if committed == nil {
		committed = func(uint64) {}
	}
	in := &Ingester{applianceID: applianceID, key: key, next: next, committed: committed, commit: st.CommitPolls, format: o.format}
	switch o.format {
	case 0, 1:
		in.format = 1
	case 2:
		if len(key) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("ingest: signing key of %d bytes", len(key))
		}
		in.tree = keytree.New(keytree.TreeSecret(key))
		in.nextPollIndex = st.NextPollIndex
		in.pollIndex = map[string]uint64{}
	default:
		return nil, fmt.Errorf("ingest: block format %d, want 1 or 2", o.format)
	}
	return in, nil
}

// Ingest stores one poll of a device durably and returns its sequence range.
// It returns after the poll is durable, or with an error and nothing stored.
func (in *Ingester) Ingest(deviceID string, samples []protocols.Sample, at time.Time) (first, last uint64, err error) {
	if len(samples) == 0 {
		return 0, 0, errors.New("ingest: poll without samples")
	}
	var runs []int
	if in.format == 2 {
		runs = splitByTime(samples, at)
	}
	in.mu.Lock()
	first = in.next
	t := &ticket{first: first, readings: len(samples), device: deviceID, done: make(chan struct{})}
	if runs != nil {
		if t.firstIndex, err = in.reserveIndices(deviceID, len(runs)); err != nil {
			in.mu.Unlock()
			return 0, 0, err
		}
		t.indexed = true
	}
	in.next += uint64(len(samples))
	in.queue = append(in.queue, t)
	in.mu.Unlock()
	last = first + uint64(len(samples)) - 1

	if runs != nil {
		t.polls, err = in.prepareV2(deviceID, samples, first, at, runs, t.firstIndex)
	} else {
		var p store.Poll
		p, err = in.prepare(deviceID, samples, first, at)
		t.polls = []store.Poll{p}
	}

	in.mu.Lock()
	switch {
	case t.err != nil:
		// A poll before this one failed while this one was being prepared;
		// the cascade already took it out of the queue.
		in.mu.Unlock()
		return 0, 0, t.err
	case err != nil:
		in.failFrom(t, err)
		in.mu.Unlock()
		return 0, 0, err
	}
	t.ready = true
	if !in.committing && in.queue[0].ready {
		in.committing = true
		go in.commitLoop()
	}
	in.mu.Unlock()
	<-t.done
	if t.err != nil {
		return 0, 0, t.err
	}
	return first, last, nil
}

// reserveIndices reserves n consecutive poll indices of the device and
// returns the first. The first reservation of a device resumes from the
// store. in.mu must be held.
func (in *Ingester) reserveIndices(device string, n int) (uint64, error) {
	next, ok := in.pollIndex[device]
	if !ok {
		var err error
		if next, err = in.nextPollIndex(device); err != nil {
			return 0, fmt.Errorf("ingest %s: %w", device, err)
		}
	}
	if next+uint64(n) > keytree.MaxPolls {
		return 0, fmt.Errorf("ingest %s: poll index %d beyond the key tree's %d polls", device, next, keytree.MaxPolls)
	}
	in.pollIndex[device] = next + uint64(n)
	return next, nil
}

// releaseIndices gives back the poll indices of failed tickets, which are
// the latest reservations (a failure fails every later one too), so the
// device's next poll numbers on from its last poll still on its way.
// in.mu must be held.
func (in *Ingester) releaseIndices(failed []*ticket) {
	for i := len(failed) - 1; i >= 0; i-- {
		if t := failed[i]; t.indexed {
			in.pollIndex[t.device] = t.firstIndex
		}
	}
}

// splitByTime returns the lengths of the runs of samples of equal
// appliance time, in order: each run is one v2 poll.
func splitByTime(samples []protocols.Sample, at time.Time) []int {
	var runs []int
	var cur int64
	for i, s := range samples {
		t := normalise.ApplianceTime(s, at)
		if i == 0 || t != cur {
			runs = append(runs, 0)
			cur = t
		}
		runs[len(runs)-1]++
	}
	return runs
}

// encode normalises and encodes samples numbered from first.
func (in *Ingester) encode(deviceID string, samples []protocols.Sample, first uint64, at time.Time) ([]store.StoredReading, [][]byte, error) {
	stored := make([]store.StoredReading, len(samples))
	encoded := make([][]byte, len(samples))
	for i, s := range samples {
		r := normalise.Reading(in.applianceID, deviceID, s, first+uint64(i), at)
		enc, err := r.Encode()
		if err != nil {
			return nil, nil, fmt.Errorf("ingest %s/%s: %w", deviceID, s.Point, err)
		}
		stored[i] = store.StoredReading{Seq: r.Seq, Device: deviceID, Point: s.Point, Time: r.ApplianceTime, Encoded: enc}
		encoded[i] = enc
	}
	return stored, encoded, nil
}

// prepare normalises, encodes, hashes and signs one v1 poll numbered from first.
func (in *Ingester) prepare(deviceID string, samples []protocols.Sample, first uint64, at time.Time) (store.Poll, error) {
	stored, encoded, err := in.encode(deviceID, samples, first, at)
	if err != nil {
		return store.Poll{}, err
	}
	hashes := make([][]byte, len(encoded))
	for i, enc := range encoded {
		hashes[i] = reading.LeafHash(enc)
	}
	last := first + uint64(len(samples)) - 1
	poll := &reading.PollRecord{ApplianceID: in.applianceID, DeviceID: deviceID, FirstSeq: first, LastSeq: last}
	msg, err := poll.PollMessage(hashes)
	if err != nil {
		return store.Poll{}, err
	}
	// One signature per poll, not per reading: signing cost stays flat as
	// devices grow more points.
	poll.Signature = ed25519.Sign(in.key, msg)
	rec, err := reading.EncodePoll(poll)
	if err != nil {
		return store.Poll{}, err
	}
	return store.Poll{FirstSeq: first, Readings: stored, Record: rec}, nil
}

// prepareV2 normalises and encodes samples numbered from first, and signs
// them as consecutive v2 polls of the given run lengths, numbered from the
// device's poll index firstIndex.
func (in *Ingester) prepareV2(deviceID string, samples []protocols.Sample, first uint64, at time.Time, runs []int, firstIndex uint64) ([]store.Poll, error) {
	stored, encoded, err := in.encode(deviceID, samples, first, at)
	if err != nil {
		return nil, err
	}
	polls := make([]store.Poll, 0, len(runs))
	lo := 0
	for k, n := range runs {
		index, hi := firstIndex+uint64(k), lo+n
		seq := first + uint64(lo)
		leaves := reading.SaltedLeaves(in.tree.PollKey(deviceID, index), encoded[lo:hi])
		root, err := reading.PollRoot(leaves)
		if err != nil {
			return nil, fmt.Errorf("ingest %s poll %d: %w", deviceID, index, err)
		}
		poll := &reading.PollRecord{ApplianceID: in.applianceID, DeviceID: deviceID, FirstSeq: seq, LastSeq: seq + uint64(n) - 1, PollIndex: index, PollRoot: root}
		msg, err := poll.Statement()
		if err != nil {
			return nil, err
		}
		poll.Signature = ed25519.Sign(in.key, msg)
		rec, err := reading.EncodePoll(poll)
		if err != nil {
			return nil, err
		}
		polls = append(polls, store.Poll{FirstSeq: seq, Readings: stored[lo:hi:hi], Record: rec, Indexed: true, Device: deviceID, Index: index})
		lo = hi
	}
	return polls, nil
}

// commitLoop writes the ready head of the queue in one synced batch, acknowledges
// it, and repeats until nothing at the head is ready.
func (in *Ingester) commitLoop() {
	for {
		in.mu.Lock()
		n, readings := 0, 0
		for n < len(in.queue) && in.queue[n].ready && (n == 0 || readings+in.queue[n].readings <= maxGroupReadings) {
			readings += in.queue[n].readings
			n++
		}
		if n == 0 {
			in.committing = false
			in.mu.Unlock()
			return
		}
		group := make([]*ticket, n)
		copy(group, in.queue)
		clear(in.queue[:n]) // the backing array must not keep acknowledged polls alive
		in.queue = in.queue[n:]
		in.mu.Unlock()

		polls := make([]store.Poll, 0, n)
		for _, t := range group {
			polls = append(polls, t.polls...)
		}
		err := in.commit(polls)

		in.mu.Lock()
		if err != nil {
			err = fmt.Errorf("ingest: %w", err)
			// Every later reservation numbered on from this group: fail them
			// too and number again from the group's first seq, so no gap is
			// ever stored.
			in.next = group[0].first
			in.releaseIndices(in.queue)
			in.releaseIndices(group)
			in.failQueue(0)
		}
		in.mu.Unlock()
		if err == nil {
			t := group[n-1]
			in.committed(t.first + uint64(t.readings) - 1)
		}
		for _, t := range group {
			t.err = err
			close(t.done)
		}
	}
}

// failFrom takes t, whose preparation failed with err, out of the queue,
// fails every poll reserved after it, and numbers again from t's first seq.
// t's own caller returns err itself. in.mu must be held.
func (in *Ingester) failFrom(t *ticket, err error) {
	t.err = err
	for i, q := range in.queue {
		if q == t {
			in.next = t.first
			in.releaseIndices(in.queue[i:])
			in.failQueue(i)
			return
		}
	}
}

// failQueue fails the queued polls from index i on and drops them from the
// queue. Ready ones are released here; ones still being prepared see their
// error when they finish. in.mu must be held.
func (in *Ingester) failQueue(i int) {
	for _, t := range in.queue[i:] {
		if t.err == nil {
			t.err = errEarlierFailed
		}
		if t.ready {
			close(t.done)
		}
	}
	clear(in.queue[i:])
	in.queue = in.queue[:i]
}
