package publish

import "testing"

// TestReadRange is the publisher's choice of what to send next.
func TestReadRange(t *testing.T) {
	for _, tc := range []struct {
		name         string
		next, stored uint64
		room         int
		last         uint64
		ok           bool
	}{
		{"nothing stored", 1, 0, 10, 0, false},
		{"caught up", 6, 5, 10, 0, false},
		{"window full", 1, 5, 0, 0, false},
		{"all stored fit", 3, 5, 10, 5, true},
		{"room limits", 3, 100, 4, 6, true},
		{"one reading", 5, 5, 1, 5, true},
		{"one store read at most", 1, 10_000, 1000, readBatch, true},
	} {
		last, ok := readRange(tc.next, tc.stored, tc.room)
		if last != tc.last || ok != tc.ok {
			t.Errorf("%s: readRange(%d, %d, %d) = %d, %v; want %d, %v", tc.name, tc.next, tc.stored, tc.room, last, ok, tc.last, tc.ok)
		}
	}
}
