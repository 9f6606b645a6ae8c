package opcua

import (
	"strings"
	"testing"

	"github.com/wotchain/wotchain/protocols"
)

func TestBufferKeepsOrderAndGrows(t *testing.T) {
	b := newSampleBuffer(1000)
	for i := range 200 {
		b.push(protocols.Sample{Point: "p", Value: int64(i)})
	}
	got := b.drain()
	if len(got) != 200 {
		t.Fatalf("drained %d samples, want 200", len(got))
	}
	for i, s := range got {
		if s.Value != int64(i) {
			t.Fatalf("sample %d = %v, want %d", i, s.Value, i)
		}
	}
	if b.len() != 0 || len(b.drain()) != 0 {
		t.Fatal("buffer not empty after drain")
	}
}

func TestBufferOverflowDropsOldestAndReportsLoss(t *testing.T) {
	b := newSampleBuffer(3)
	for i := range 5 {
		b.push(protocols.Sample{Point: "level", Unit: "m", Value: int64(i)})
	}
	b.push(protocols.Sample{Point: "temp", Value: int64(99)}) // drops level=2
	got := b.drain()
	if len(got) != 4 {
		t.Fatalf("drained %+v, want a loss marker and 3 samples", got)
	}
	marker := got[0]
	if marker.Point != "level" || marker.Unit != "m" || marker.Quality != protocols.Bad || marker.Value != nil ||
		!strings.HasPrefix(marker.Reason, "3 values lost") || marker.Received.IsZero() {
		t.Fatalf("loss marker = %+v, want Bad level with reason '3 values lost ...' and a time", marker)
	}
	for i, want := range []any{int64(3), int64(4), int64(99)} {
		if got[i+1].Value != want {
			t.Errorf("sample %d = %v, want %v", i+1, got[i+1].Value, want)
		}
	}
	// The loss was reported once.
	b.push(protocols.Sample{Point: "level", Value: int64(5)})
	if got := b.drain(); len(got) != 1 || got[0].Quality != protocols.Good {
		t.Fatalf("after the report: %+v", got)
	}
}
