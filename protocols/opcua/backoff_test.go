package opcua

import (
	"testing"
	"time"
)

func TestBackoffDoublesUpToMax(t *testing.T) {
	b := newBackoff(500*time.Millisecond, 4*time.Second)
	b.jitter = func() float64 { return 0.5 } // the middle: no jitter
	now := time.Unix(1000, 0)
	if w := b.wait(now); w != 0 {
		t.Fatalf("first attempt waits %v, want 0", w)
	}
	for i, want := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
		b.failed(now)
		if w := b.wait(now); w != want {
			t.Fatalf("after %d failures: wait %v, want %v", i+1, w, want)
		}
	}
	if w := b.wait(now.Add(10 * time.Second)); w != 0 {
		t.Fatalf("after the delay passed: wait %v, want 0", w)
	}
	b.succeeded()
	b.failed(now)
	if w := b.wait(now); w != 500*time.Millisecond {
		t.Fatalf("after a success the delay starts over: wait %v", w)
	}
}

func TestBackoffJitterBounds(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, j := range []float64{0, 0.999999} {
		b := newBackoff(time.Second, time.Minute)
		b.jitter = func() float64 { return j }
		b.failed(now)
		if w := b.wait(now); w < 800*time.Millisecond || w > 1200*time.Millisecond {
			t.Errorf("jitter %v: wait %v outside ±20%% of 1s", j, w)
		}
	}
}
