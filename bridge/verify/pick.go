package verify

import (
	"errors"
	"fmt"

	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
)

// A reading can be proven once its block is anchored: until then the
// ledger holds no credential for it. On a running appliance the newest
// reading of a point is almost always newer than that (a block is sealed
// every few seconds and anchored after), so asking for "the latest" picks
// the newest reading that can be proven.

// Pending says why reading seq cannot be proven yet: "" once its block
// is anchored.
func Pending(st *store.Store, seq uint64) (string, error) {
	rec, err := st.BlockForSeq(seq)
	if store.IsNotFound(err) {
		return fmt.Sprintf("reading %d is not sealed yet", seq), nil
	}
	if err != nil {
		return "", err
	}
	if rec.State != store.Anchored {
		return fmt.Sprintf("reading %d is in block %d, %s but not anchored yet", seq, rec.Height, rec.State), nil
	}
	return "", nil
}

// Choice is the reading of a point that verify proves.
type Choice struct {
	Asked uint64 // the point's newest reading at or before the time asked
	Seq   uint64 // Asked, or the newest reading of the point before it that can be proven; 0 if none can yet
	Why   string // why Asked cannot be proven yet; "" when Seq is Asked
}

// Newest finds the newest reading of device/point at or before t (Unix ns)
// that can be proven: the newest one, or else the newest one in an
// anchored block.
func Newest(st *store.Store, device, point string, t int64) (Choice, error) {
	asked, err := st.FindSeq(device, point, t)
	if err != nil {
		return Choice{}, err
	}
	why, err := Pending(st, asked)
	if err != nil || why == "" {
		return Choice{Asked: asked, Seq: asked}, err
	}
	c := Choice{Asked: asked, Why: why}
	last, err := lastAnchored(st)
	if last == nil || err != nil {
		return c, err
	}
	// Nothing after the last anchored block's readings can be proven: start
	// the search at its last reading's time, then step back one reading
	// of the point at a time (only needed where devices' times interleave).
	if at, err := readingTime(st, last.LastSeq); err == nil && at < t {
		t = at
	}
	for {
		seq, err := st.FindSeq(device, point, t)
		if store.IsNotFound(err) {
			return c, nil
		}
		if err != nil {
			return c, err
		}
		if seq <= last.LastSeq {
			if why, err := Pending(st, seq); err != nil || why == "" {
				c.Seq = seq
				return c, err
			}
		}
		at, err := readingTime(st, seq)
		if err != nil {
			return c, err
		}
		t = at - 1
	}
}

// lastAnchored returns the newest anchored block, or nil before the first.
func lastAnchored(st *store.Store) (*store.BlockRecord, error) {
	rec, err := st.LastBlock()
	for err == nil {
		if rec.State == store.Anchored {
			return rec, nil
		}
		if rec.Height == 0 {
			return nil, nil
		}
		rec, err = st.Block(rec.Height - 1)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return nil, err
}

func readingTime(st *store.Store, seq uint64) (int64, error) {
	raw, err := st.Reading(seq)
	if err != nil {
		return 0, err
	}
	r, err := reading.Decode(raw)
	if err != nil {
		return 0, fmt.Errorf("reading %d: %w", seq, err)
	}
	return r.ApplianceTime, nil
}
