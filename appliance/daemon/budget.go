package daemon

import (
	"context"
	"log/slog"
	"time"

	"github.com/wotchain/wotchain/appliance/config"
)

// budgetCheck is how often the store size is compared with the cap.
const budgetCheck = 5 * time.Second

// storeSize measures the store on disk (a *store.Store).
type storeSize interface {
	Size() (uint64, error)
}

// freer frees disk for the budget (a *retention.Pruner).
type freer interface {
	Free(target uint64) (int, error)
	DropOldest(excess uint64) ([]uint64, error)
}

// pauser pauses and resumes devices for the budget (the *pool).
type pauser interface {
	pauseLowest() []string
	resumeAll(ctx context.Context) []string
}

// budget enforces the disk cap with the configured policy.
type budget struct {
	st      storeSize
	pruner  freer
	max     uint64
	policy  config.OnFull
	devices pauser
	// seal seals pending readings, so that drop_oldest_unanchored can drop
	// whole blocks (never a part of a signed poll).
	seal func()
	log  *slog.Logger
}

// run checks the store size against the cap every budgetCheck (see check).
func (b *budget) run(ctx context.Context) {
	if b.max == 0 {
		return
	}
	t := time.NewTicker(budgetCheck)
	defer t.Stop()
	paused := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		paused = b.check(ctx, paused)
	}
}

// check compares the store size with the cap once; paused says whether an
// earlier check paused devices, and the result whether devices are paused
// now. pause_devices: above the cap, devices of the lowest priority stop
// polling (one priority level per check) with an alarm, and resume below
// 90 % of it; stored readings are never touched. drop_oldest_unanchored:
// above it, the oldest blocks not yet uploaded lose their readings and
// objects, with an alarm naming them; their credentials are anchored all
// the same.
func (b *budget) check(ctx context.Context, paused bool) bool {
	st, max, devices, log := b.st, b.max, b.devices, b.log
	size, err := st.Size()
	if err != nil {
		log.Error("disk budget: cannot measure the store", "err", err)
		return paused
	}
	if size > max {
		// Local copies of anchored blocks go first, whatever the
		// retention policy says: they are safe in storage and on the
		// ledger. The policy applies only to what is left.
		n, err := b.pruner.Free(max / 10 * 9)
		if err != nil {
			log.Error("disk budget: pruning anchored blocks failed", "err", err)
		}
		if n > 0 {
			after, err := st.Size()
			if err != nil {
				log.Error("disk budget: cannot measure the store", "err", err)
				return paused
			}
			log.Warn("disk budget reached: local copies of anchored blocks pruned ahead of retention", "blocks", n, "store_bytes", after, "max_bytes", max)
			size = after
		}
	}
	switch {
	case size > max && b.policy == config.DropOldestUnanchored:
		b.seal()
		dropped, err := b.pruner.DropOldest(size - max/10*9)
		if err != nil {
			log.Error("disk budget: dropping failed", "err", err)
		}
		log.Error("ALARM disk budget reached: oldest unanchored readings dropped", "store_bytes", size, "max_bytes", max, "blocks", dropped)
	case size > max:
		if ids := devices.pauseLowest(); len(ids) > 0 {
			paused = true
			log.Error("ALARM disk budget reached: lowest-priority devices paused", "store_bytes", size, "max_bytes", max, "paused", ids)
		} else {
			log.Error("ALARM disk budget reached: only the highest-priority devices poll", "store_bytes", size, "max_bytes", max)
		}
	case paused && size < max/10*9:
		paused = false
		log.Warn("disk budget: below 90% again; devices resume", "store_bytes", size, "resumed", devices.resumeAll(ctx))
	}
	return paused
}
