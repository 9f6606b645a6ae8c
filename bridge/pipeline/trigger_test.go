package pipeline

import (
	"fmt"
	"strings"
	"testing"
)

// step is one event fed to a Trigger: "stored N", "sealing CAUSE" or
// "sealed N"; want is the answer (ask or flush) expected of stored and
// sealing.
type step struct {
	event string
	arg   uint64
	cause Cause
	want  bool
}

func stored(seq uint64, ask bool) step { return step{event: "stored", arg: seq, want: ask} }
func sealing(c Cause, flush bool) step { return step{event: "sealing", cause: c, want: flush} }
func sealedUpTo(seq uint64) step       { return step{event: "sealed", arg: seq} }
func unsealed(n uint64) step           { return step{event: "unsealed", arg: n} }

func TestTrigger(t *testing.T) {
	cases := []struct {
		name           string
		max            int
		sealed, stored uint64
		steps          []step
	}{
		{"below max asks nothing", 10, 0, 0, []step{stored(5, false), stored(9, false), unsealed(9)}},
		{"max readings asks once", 10, 0, 0, []step{stored(10, true), stored(12, false), stored(30, false)}},
		{"asks again once the count seal started", 10, 0, 0, []step{
			stored(10, true), sealing(Count, false), stored(11, true)}},
		{"a sealed block moves the base", 10, 0, 0, []step{
			stored(10, true), sealing(Count, false), sealedUpTo(10), stored(15, false), stored(20, true)}},
		{"resumes after the last sealed reading", 10, 100, 105, []step{unsealed(5), stored(109, false), stored(110, true)}},
		{"a failed count seal is retried at the next poll", 10, 0, 0, []step{
			stored(10, true), sealing(Count, false), stored(11, true)}},
		{"a flush seal leaves the asked count seal pending", 10, 0, 0, []step{
			stored(10, true), sealing(Interval, true), sealedUpTo(10), stored(25, false), sealing(Count, false), stored(26, true)}},
		{"interval, budget and final flush", 10, 0, 0, []step{
			sealing(Interval, true), sealing(Budget, true), sealing(Final, true), sealing(Count, false)}},
		{"seqs out of order never go back", 10, 0, 0, []step{stored(8, false), stored(3, false), unsealed(8), sealedUpTo(8), sealedUpTo(2), unsealed(0)}},
		{"max one seals every poll", 1, 0, 0, []step{stored(1, true), sealing(Count, false), sealedUpTo(1), stored(2, true)}},
		{"max below one acts as one", 0, 0, 0, []step{stored(1, true)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := NewTrigger(c.max, c.sealed, c.stored)
			var trace []string
			for i, s := range c.steps {
				var got bool
				switch s.event {
				case "stored":
					got = tr.Stored(s.arg)
				case "sealing":
					got = tr.Sealing(s.cause)
				case "sealed":
					tr.Sealed(s.arg)
					continue
				case "unsealed":
					if n := tr.Unsealed(); n != s.arg {
						t.Fatalf("step %d: unsealed %d, want %d (after %s)", i, n, s.arg, strings.Join(trace, ", "))
					}
					continue
				}
				if s.event == "sealing" {
					trace = append(trace, fmt.Sprintf("sealing %s=%v", s.cause, got))
				} else {
					trace = append(trace, fmt.Sprintf("stored %d=%v", s.arg, got))
				}
				if got != s.want {
					t.Fatalf("step %d: %s answered %v, want %v (trace %s)", i, s.event, got, s.want, strings.Join(trace, ", "))
				}
			}
		})
	}
}
