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
package ingest

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

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

	mu         sync.Mutex
	next       uint64    // first seq of the next reservation
	queue      []*ticket // reserved polls not yet taken by the committer, in seq order
	committing bool      // a committer goroutine is running
}

// ticket is one poll on its way through the group commit. Its fields other
// than poll are guarded by Ingester.mu; done is closed when err is final.
type ticket struct {
	first uint64 // first seq of its reservation
	poll  store.Poll
	ready bool // prepared: encoded and signed
	err   error
	done  chan struct{}
}

// errEarlierFailed is what polls get when a poll before them failed: their
// sequence numbers followed the failed ones, so they must be numbered again.
var errEarlierFailed = errors.New("ingest: an earlier poll of the same commit group failed; poll not stored")

// New resumes numbering after the last durable reading. committed, if not
// nil, is called after each durable group of polls with the last durable
// seq, before any of its callers return (the sealer listens). It is called
// from one goroutine at a time, in seq order, and must not block.
func New(st *store.Store, applianceID string, key ed25519.PrivateKey, committed func(lastSeq uint64)) (*Ingester, error) {
	next, err := st.NextSeq()
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	if committed == nil {
		committed = func(uint64) {}
	}
	return &Ingester{applianceID: applianceID, key: key, next: next, committed: committed, commit: st.CommitPolls}, nil
}

// Ingest stores one poll of a device durably and returns its sequence range.
// It returns after the poll is durable, or with an error and nothing stored.
func (in *Ingester) Ingest(deviceID string, samples []protocols.Sample, at time.Time) (first, last uint64, err error) {
	if len(samples) == 0 {
		return 0, 0, errors.New("ingest: poll without samples")
	}
	in.mu.Lock()
	first = in.next
	t := &ticket{first: first, done: make(chan struct{})}
	in.next += uint64(len(samples))
	in.queue = append(in.queue, t)
	in.mu.Unlock()
	last = first + uint64(len(samples)) - 1

	t.poll, err = in.prepare(deviceID, samples, first, at)

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

// prepare normalises, encodes, hashes and signs one poll numbered from first.
func (in *Ingester) prepare(deviceID string, samples []protocols.Sample, first uint64, at time.Time) (store.Poll, error) {
	stored := make([]store.StoredReading, len(samples))
	hashes := make([][]byte, len(samples))
	for i, s := range samples {
		r := normalise.Reading(in.applianceID, deviceID, s, first+uint64(i), at)
		enc, err := r.Encode()
		if err != nil {
			return store.Poll{}, fmt.Errorf("ingest %s/%s: %w", deviceID, s.Point, err)
		}
		stored[i] = store.StoredReading{Seq: r.Seq, Device: deviceID, Point: s.Point, Time: r.ApplianceTime, Encoded: enc}
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

// commitLoop writes the ready head of the queue in one synced batch, acknowledges
// it, and repeats until nothing at the head is ready.
func (in *Ingester) commitLoop() {
	for {
		in.mu.Lock()
		n, readings := 0, 0
		for n < len(in.queue) && in.queue[n].ready && (n == 0 || readings+len(in.queue[n].poll.Readings) <= maxGroupReadings) {
			readings += len(in.queue[n].poll.Readings)
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

		polls := make([]store.Poll, n)
		for i, t := range group {
			polls[i] = t.poll
		}
		err := in.commit(polls)

		in.mu.Lock()
		if err != nil {
			err = fmt.Errorf("ingest: %w", err)
			// Every later reservation numbered on from this group: fail them
			// too and number again from the group's first seq, so no gap is
			// ever stored.
			in.next = group[0].first
			in.failQueue(0)
		}
		in.mu.Unlock()
		if err == nil {
			p := group[n-1].poll
			in.committed(p.FirstSeq + uint64(len(p.Readings)) - 1)
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
