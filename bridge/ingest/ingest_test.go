package ingest

import (
	"crypto/ed25519"
	"crypto/rand"
	"math"
	"testing"
	"time"

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
		if r.Quality != reading.Bad || r.Reason == "" || r.Value() != nil {
			t.Fatalf("sample %q became %+v, want a Bad reading with a reason", samples[i].Point, r)
		}
	}
	if r, _ := reading.Decode(raws[0]); r.Quality != reading.Good || r.Value() != 21.5 {
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
