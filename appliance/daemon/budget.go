package daemon

import (
	"context"
	"log/slog"
	"time"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/bridge/retention"
	"github.com/wotchain/wotchain/bridge/store"
)

// runRetention prunes the local store on the retention interval.
func runRetention(ctx context.Context, st *store.Store, cfg *config.Config, log *slog.Logger) {
	pr := retention.New(st, retention.Policy{KeepFor: cfg.Retention.KeepFor.D(), KeepBytes: uint64(cfg.Retention.KeepBytes)}, log)
	t := time.NewTicker(cfg.Retention.Every.D())
	defer t.Stop()
	for {
		if _, err := pr.Prune(time.Now()); err != nil {
			log.Error("retention failed; will retry", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// budgetCheck is how often the store size is compared with the cap.
const budgetCheck = 5 * time.Second

// runBudget enforces the disk cap: above it, devices of the lowest priority
// stop polling (one priority level per check) with an alarm; below 90 % of
// it, they resume. Readings already stored are never touched by the cap.
func runBudget(ctx context.Context, st *store.Store, max uint64, devices *pool, log *slog.Logger) {
	if max == 0 {
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
		size, err := st.Size()
		if err != nil {
			log.Error("disk budget: cannot measure the store", "err", err)
			continue
		}
		switch {
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
	}
}
