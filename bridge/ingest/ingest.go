// Package ingest is the acknowledging edge of the pipeline: it gives each
// poll's samples their sequence numbers, normalises them, signs the poll and
// writes it durably. A poll counts as taken only when Ingest returns nil.
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

// Ingester assigns gap-free sequence numbers; it serialises its callers.
type Ingester struct {
	mu          sync.Mutex
	st          *store.Store
	applianceID string
	key         ed25519.PrivateKey
	next        uint64
	committed   func(lastSeq uint64)
}

// New resumes numbering after the last durable reading. committed, if not
// nil, is called after each durable poll (the sealer listens).
func New(st *store.Store, applianceID string, key ed25519.PrivateKey, committed func(lastSeq uint64)) (*Ingester, error) {
	next, err := st.NextSeq()
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	if committed == nil {
		committed = func(uint64) {}
	}
	return &Ingester{st: st, applianceID: applianceID, key: key, next: next, committed: committed}, nil
}

// Ingest stores one poll of a device durably and returns its sequence range.
func (in *Ingester) Ingest(deviceID string, samples []protocols.Sample, at time.Time) (first, last uint64, err error) {
	if len(samples) == 0 {
		return 0, 0, errors.New("ingest: poll without samples")
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	first = in.next
	stored := make([]store.StoredReading, len(samples))
	hashes := make([][]byte, len(samples))
	for i, s := range samples {
		r := normalise.Reading(in.applianceID, deviceID, s, first+uint64(i), at)
		enc, err := r.Encode()
		if err != nil {
			return 0, 0, fmt.Errorf("ingest %s/%s: %w", deviceID, s.Point, err)
		}
		stored[i] = store.StoredReading{Seq: r.Seq, Device: deviceID, Point: s.Point, Time: r.ApplianceTime, Encoded: enc}
		hashes[i] = reading.LeafHash(enc)
	}
	last = first + uint64(len(samples)) - 1
	poll := &reading.PollRecord{ApplianceID: in.applianceID, DeviceID: deviceID, FirstSeq: first, LastSeq: last}
	msg, err := poll.PollMessage(hashes)
	if err != nil {
		return 0, 0, err
	}
	// One signature per poll, not per reading: signing cost stays flat as
	// devices grow more points.
	poll.Signature = ed25519.Sign(in.key, msg)
	rec, err := reading.EncodePoll(poll)
	if err != nil {
		return 0, 0, err
	}
	if err := in.st.CommitPoll(first, stored, rec); err != nil {
		return 0, 0, fmt.Errorf("ingest %s: %w", deviceID, err)
	}
	in.next = last + 1
	in.committed(last)
	return first, last, nil
}
