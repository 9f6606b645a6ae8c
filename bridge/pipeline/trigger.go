package pipeline

// Cause is why a seal runs.
type Cause uint8

const (
	// Count: max_readings readings are stored since the last sealed one.
	// Only full blocks are sealed; the partial tail waits.
	Count Cause = iota
	// Interval: the seal interval passed; the partial tail is sealed too,
	// so no reading waits longer than the interval.
	Interval
	// Budget: the disk budget seals everything before dropping whole
	// blocks (never a part of a signed poll).
	Budget
	// Final: the pipeline stops; everything stored is sealed.
	Final
)

func (c Cause) String() string {
	switch c {
	case Count:
		return "count"
	case Interval:
		return "interval"
	case Budget:
		return "budget"
	case Final:
		return "final"
	}
	return "unknown"
}

// Trigger decides when to seal, in the style of etcd's raft: it does no
// I/O and never blocks. The pipeline tells it what was stored and sealed
// and does what it answers. It is not safe for concurrent use.
type Trigger struct {
	maxReadings uint64
	sealed      uint64 // last seq in a sealed block (0: none)
	stored      uint64 // last durable seq
	asked       bool   // a Count seal was asked for and has not started
}

// NewTrigger returns the trigger of a store whose last sealed reading is
// sealed and last stored reading is stored. maxReadings is at least 1.
func NewTrigger(maxReadings int, sealed, stored uint64) *Trigger {
	return &Trigger{maxReadings: uint64(max(maxReadings, 1)), sealed: sealed, stored: max(stored, sealed)}
}

// Stored records that readings up to seq are durable. It reports whether a
// Count seal should be asked for now: max_readings readings wait unsealed
// and no Count seal is already asked for.
func (t *Trigger) Stored(seq uint64) bool {
	t.stored = max(t.stored, seq)
	if t.asked || t.Unsealed() < t.maxReadings {
		return false
	}
	t.asked = true
	return true
}

// Sealing records that a seal for cause starts and returns whether it
// flushes the partial tail. A Count seal answers the one asked for, so
// readings stored from now on may ask again; a failed seal is thus retried
// at the next stored poll, not in a loop.
func (t *Trigger) Sealing(c Cause) (flush bool) {
	if c == Count {
		t.asked = false
	}
	return c != Count
}

// Sealed records that blocks up to the reading seq are sealed.
func (t *Trigger) Sealed(seq uint64) {
	t.sealed = max(t.sealed, seq)
	t.stored = max(t.stored, seq)
}

// Unsealed is the number of stored readings not yet sealed.
func (t *Trigger) Unsealed() uint64 {
	return t.stored - t.sealed
}
