package coap

import (
	"testing"
	"time"
)

func TestNoteBufferKeepsNewestAndCountsLoss(t *testing.T) {
	b := newNoteBuffer(3)
	t0 := time.Unix(1000, 0)
	note := func(i int) response {
		return response{payload: []byte{byte(i)}, received: t0.Add(time.Duration(i) * time.Second), maxAge: time.Duration(i) * time.Second}
	}
	for i := range 5 {
		b.push(note(i))
	}
	got, lost := b.drain()
	if len(got) != 3 || got[0].payload[0] != 2 || got[1].payload[0] != 3 || got[2].payload[0] != 4 {
		t.Fatalf("drained %v, want notifications 2, 3, 4 in order", payloads(got))
	}
	if lost.count != 2 || !lost.first.Equal(t0.Add(3*time.Second)) || !lost.last.Equal(t0.Add(4*time.Second)) {
		t.Fatalf("loss = %+v, want 2 dropped while pushing 3 and 4", lost)
	}
	if heard, maxAge := b.heard(); !heard.Equal(t0.Add(4*time.Second)) || maxAge != 4*time.Second {
		t.Fatalf("heard = %v %v, want the last notification", heard, maxAge)
	}

	// Drained: empty, loss reset, and the ring starts over cleanly.
	if got, lost := b.drain(); len(got) != 0 || lost.count != 0 {
		t.Fatalf("second drain = %v %+v, want nothing", payloads(got), lost)
	}
	b.push(note(7))
	b.push(note(8))
	if got, lost := b.drain(); len(got) != 2 || got[0].payload[0] != 7 || lost.count != 0 {
		t.Fatalf("after reuse: %v %+v", payloads(got), lost)
	}
}

func TestNoteBufferTouchNeverGoesBack(t *testing.T) {
	b := newNoteBuffer(1)
	t0 := time.Unix(1000, 0)
	b.touch(t0)
	b.touch(t0.Add(-time.Second))
	if heard, maxAge := b.heard(); !heard.Equal(t0) || maxAge != defaultMaxAge {
		t.Fatalf("heard = %v %v, want %v and the default Max-Age", heard, maxAge, t0)
	}
}

func payloads(rs []response) []byte {
	var out []byte
	for _, r := range rs {
		out = append(out, r.payload...)
	}
	return out
}
