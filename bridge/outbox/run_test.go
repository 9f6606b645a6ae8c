package outbox

import (
	"testing"

	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/chaincode/format"
)

func TestChooseRun(t *testing.T) {
	up := func(h uint64, size int) Head { return Head{Height: h, State: store.Uploaded, Size: size} }
	sealed := func(h uint64) Head { return Head{Height: h, State: store.Sealed, Size: 100} }
	cases := []struct {
		name    string
		head    []Head
		limits  Limits
		want    int
		wantErr bool
	}{
		{"empty outbox", nil, Limits{Count: 64, Bytes: 1000}, 0, false},
		{"lowest still sealed", []Head{sealed(0), up(1, 10)}, Limits{Count: 64, Bytes: 1000}, 0, false},
		{"uploaded up to the first sealed", []Head{up(0, 10), up(1, 10), sealed(2), up(3, 10)}, Limits{Count: 64, Bytes: 1000}, 2, false},
		{"all uploaded", []Head{up(0, 10), up(1, 10), up(2, 10)}, Limits{Count: 64, Bytes: 1000}, 3, false},
		{"count cap", []Head{up(0, 10), up(1, 10), up(2, 10)}, Limits{Count: 2, Bytes: 1000}, 2, false},
		{"one block per call", []Head{up(0, 10), up(1, 10)}, Limits{Count: 1, Bytes: 1000}, 1, false},
		{"byte cap", []Head{up(0, 40), up(1, 40), up(2, 40)}, Limits{Count: 64, Bytes: 100}, 2, false},
		{"byte cap exactly met", []Head{up(0, 50), up(1, 50), up(2, 1)}, Limits{Count: 64, Bytes: 100}, 2, false},
		{"a block over the byte cap goes alone", []Head{up(0, 500), up(1, 10)}, Limits{Count: 64, Bytes: 100}, 1, false},
		{"a large second block waits", []Head{up(0, 10), up(1, 500)}, Limits{Count: 64, Bytes: 100}, 1, false},
		{"anchored block in the outbox", []Head{up(0, 10), {Height: 1, State: store.Anchored}}, Limits{Count: 64, Bytes: 1000}, 0, true},
		{"bad state past the count cap is not read", []Head{up(0, 10), {Height: 1, State: store.Anchored}}, Limits{Count: 1, Bytes: 1000}, 1, false},
		{"bad state past a sealed block", []Head{sealed(0), {Height: 1, State: store.Anchored}}, Limits{Count: 64, Bytes: 1000}, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ChooseRun(c.head, c.limits)
			if (err != nil) != c.wantErr || got != c.want {
				t.Fatalf("ChooseRun = %d, %v; want %d, error %v", got, err, c.want, c.wantErr)
			}
		})
	}
}

func TestLimitsFor(t *testing.T) {
	cases := []struct {
		name            string
		batch           bool
		maxBatch, bytes int
		want            Limits
	}{
		{"no batch ledger", false, 64, 1000, Limits{Count: 1, Bytes: 1000}},
		{"batch", true, 8, 1000, Limits{Count: 8, Bytes: 1000}},
		{"zero count still anchors", true, 0, 1000, Limits{Count: 1, Bytes: 1000}},
		{"contract caps the count", true, format.MaxBatchCount + 1, 1000, Limits{Count: format.MaxBatchCount, Bytes: 1000}},
		{"contract caps the bytes", true, 8, format.MaxBatchBytes + 1, Limits{Count: 8, Bytes: format.MaxBatchBytes}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := LimitsFor(c.batch, c.maxBatch, c.bytes); got != c.want {
				t.Fatalf("LimitsFor = %+v, want %+v", got, c.want)
			}
		})
	}
}
