package ingest

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wotchain/wotchain/bridge/keytree"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/protocols"
)

func TestIngestNumbersSignsAndResumes(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	var notified []uint64
	in, err := New(st, "app-1", priv, func(last uint64) { notified = append(notified, last) })
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1_700_000_000, 5)
	samples := []protocols.Sample{
		{Point: "temp", Value: 21.5, Unit: "degC", Quality: protocols.Good},
		{Point: "bad", Value: math.NaN(), Quality: protocols.Good},
		{Point: "none", Quality: protocols.Good},
		{Point: "odd", Value: int32(4), Quality: protocols.Uncertain},
	}
	first, last, err := in.Ingest("press", samples, at)
	if err != nil || first != 1 || last != 4 {
		t.Fatalf("Ingest = %d..%d, %v", first, last, err)
	}
	if _, _, err := in.Ingest("press", nil, at); err == nil {
		t.Fatal("empty poll ingested")
	}
	if len(notified) != 1 || notified[0] != 4 {
		t.Fatalf("committed callback got %v", notified)
	}

	raws, err := st.Readings(1, 4)
	if err != nil {
		t.Fatal(err)
	}
	var leaves [][]byte
	for i, raw := range raws {
		r, err := reading.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		if r.Seq != uint64(i+1) || r.ApplianceTime != at.UnixNano() || r.DeviceID != "press" || r.ApplianceID != "app-1" {
			t.Fatalf("reading %d: %+v", i, r)
		}
		leaves = append(leaves, reading.LeafHash(raw))
	}
	// A value the canonical form cannot hold becomes a Bad reading with a reason.
	for _, i := range []int{1, 2, 3} {
		r, _ := reading.Decode(raws[i])
		if r.Quality != protocols.Bad || r.Reason == "" || r.Value() != nil {
			t.Fatalf("sample %q became %+v, want a Bad reading with a reason", samples[i].Point, r)
		}
	}
	if r, _ := reading.Decode(raws[0]); r.Quality != protocols.Good || r.Value() != 21.5 {
		t.Fatalf("good sample became %+v", r)
	}

	fs, rec, err := st.PollAt(3)
	if err != nil || fs != 1 {
		t.Fatalf("PollAt(3) = %d, %v", fs, err)
	}
	p, err := reading.DecodePoll(rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(pub, leaves); err != nil {
		t.Fatalf("poll signature: %v", err)
	}
	st.Close()

	// After a restart numbering continues without a gap.
	st, err = store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	in, err = New(st, "app-1", priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if first, last, err := in.Ingest("oven", samples[:1], at.Add(time.Second)); err != nil || first != 5 || last != 5 {
		t.Fatalf("after restart Ingest = %d..%d, %v", first, last, err)
	}
}

// TestGroupCommitConcurrent runs many devices at once, with some group
// commits failing, and checks what the store holds: exactly the polls that
// were acknowledged, numbered without a gap, each with a valid signature;
// in v2 also each device's poll indices, from 0 without a gap or a repeat.
func TestGroupCommitConcurrent(t *testing.T) {
	for _, format := range []int{1, 2} {
		t.Run(fmt.Sprintf("v%d", format), func(t *testing.T) { testGroupCommitConcurrent(t, format) })
	}
}

func testGroupCommitConcurrent(t *testing.T, format int) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	tree := keytree.New(keytree.TreeSecret(priv))
	var lastNotified atomic.Uint64
	in, err := New(st, "app-1", priv, func(last uint64) {
		if prev := lastNotified.Swap(last); prev >= last {
			t.Errorf("committed callback went from %d to %d", prev, last)
		}
	}, WithFormat(format))
	if err != nil {
		t.Fatal(err)
	}
	var calls, groups atomic.Int64
	errDisk := errors.New("disk on fire")
	in.commit = func(polls []store.Poll) error {
		groups.Add(1)
		if len(polls) > 1 {
			calls.Add(1)
		}
		if groups.Load()%7 == 3 { // every 7th group fails
			return errDisk
		}
		return st.CommitPolls(polls)
	}

	const devices, polls = 16, 40
	type ack struct{ first, last uint64 }
	acks := make(chan ack, devices*polls)
	var failed atomic.Int64
	var wg sync.WaitGroup
	for d := range devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dev := fmt.Sprintf("dev-%d", d)
			for p := range polls {
				samples := make([]protocols.Sample, 1+(d+p)%5)
				for i := range samples {
					samples[i] = protocols.Sample{Point: fmt.Sprintf("p%d", i), Value: float64(p), Quality: protocols.Good}
					if (d+p)%3 == 0 { // pushed values of two or three times: several v2 polls
						samples[i].Received = time.Unix(1_800_000_000+int64(i/2), 0)
					}
				}
				first, last, err := in.Ingest(dev, samples, time.Unix(1_700_000_000+int64(p), 0))
				if err != nil {
					if !errors.Is(err, errDisk) && !errors.Is(err, errEarlierFailed) {
						t.Errorf("Ingest: %v", err)
					}
					failed.Add(1)
					continue
				}
				if last-first+1 != uint64(len(samples)) {
					t.Errorf("range %d..%d for %d samples", first, last, len(samples))
				}
				acks <- ack{first, last}
			}
		}()
	}
	wg.Wait()
	close(acks)
	if failed.Load() == 0 || calls.Load() == 0 {
		t.Fatalf("test did not exercise failures (%d) and multi-poll groups (%d)", failed.Load(), calls.Load())
	}

	want := map[uint64]uint64{}
	for a := range acks {
		want[a.first] = a.last
	}
	next, err := st.NextSeq()
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint64]uint64{}
	indices := map[string]uint64{} // v2: next expected poll index per device
	expect := uint64(1)
	err = st.Polls(1, func(first uint64, rec []byte) (bool, error) {
		p, err := reading.DecodePoll(rec)
		if err != nil {
			return false, err
		}
		if p.FirstSeq != expect {
			t.Fatalf("stored polls jump from %d to %d", expect, p.FirstSeq)
		}
		raws, err := st.Readings(p.FirstSeq, p.LastSeq)
		if err != nil {
			return false, err
		}
		if p.Version() != format {
			t.Fatalf("poll %d is v%d", first, p.Version())
		}
		leaves, err := p.Leaves(raws, tree)
		if err != nil {
			return false, err
		}
		if err := p.Verify(pub, leaves); err != nil {
			t.Errorf("poll %d: %v", first, err)
		}
		if format == 2 {
			if p.PollIndex != indices[p.DeviceID] {
				t.Fatalf("poll %d is poll %d of %s, want %d", first, p.PollIndex, p.DeviceID, indices[p.DeviceID])
			}
			indices[p.DeviceID]++
			// A v2 poll is part of one acknowledged call: merge the call's
			// polls back into its range to compare with the acks.
			if start, ok := callOf(want, p.FirstSeq); ok && start != p.FirstSeq && got[start] == p.FirstSeq-1 {
				got[start] = p.LastSeq
				expect = p.LastSeq + 1
				return true, nil
			}
		}
		got[p.FirstSeq] = p.LastSeq
		expect = p.LastSeq + 1
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if expect != next {
		t.Fatalf("polls end at %d, next seq is %d", expect, next)
	}
	if !maps.Equal(got, want) {
		t.Fatalf("stored polls differ from acknowledged ones: %d stored, %d acknowledged", len(got), len(want))
	}
	if lastNotified.Load() != next-1 {
		t.Fatalf("last committed callback %d, last seq %d", lastNotified.Load(), next-1)
	}
	for device, n := range indices {
		if got, err := st.NextPollIndex(device); err != nil || got != n {
			t.Fatalf("NextPollIndex(%s) = %d, %v; the store holds %d polls", device, got, err, n)
		}
	}
	if format == 2 && len(indices) != 16 {
		t.Fatalf("v2 polls of %d devices", len(indices))
	}
}

// callOf returns the first seq of the acknowledged call whose range holds seq.
func callOf(acks map[uint64]uint64, seq uint64) (uint64, bool) {
	for first, last := range acks {
		if first <= seq && seq <= last {
			return first, true
		}
	}
	return 0, false
}

// TestPrepareFailureFailsLaterPolls checks the cascade when a poll cannot
// be prepared after it reserved its numbers: it and every later reservation
// fail, earlier ones are unaffected, and numbering resumes at its first seq.
func TestPrepareFailureFailsLaterPolls(t *testing.T) {
	in := &Ingester{next: 10}
	tickets := make([]*ticket, 4)
	for i := range tickets {
		tickets[i] = &ticket{first: in.next, done: make(chan struct{})}
		in.next += 5
		in.queue = append(in.queue, tickets[i])
	}
	tickets[0].ready = true
	tickets[3].ready = true
	errBad := errors.New("cannot encode")
	in.failFrom(tickets[1], errBad)
	if in.next != 15 || len(in.queue) != 1 || in.queue[0] != tickets[0] {
		t.Fatalf("after failure next=%d queue=%d", in.next, len(in.queue))
	}
	select { // the ready later poll is released; the others' callers are running
	case <-tickets[3].done:
	default:
		t.Fatal("ready later poll not released")
	}
	if tickets[1].err != errBad || !errors.Is(tickets[2].err, errEarlierFailed) || !errors.Is(tickets[3].err, errEarlierFailed) {
		t.Fatalf("polls got %v, %v, %v", tickets[1].err, tickets[2].err, tickets[3].err)
	}
}
