package daemon

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"reflect"
	"syscall"
	"time"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/bridge/devstatus"
)

// watchConfig signals a reload on SIGHUP and when the configuration file's
// modification time or size changes (checked every two seconds).
func watchConfig(ctx context.Context, path string, log *slog.Logger) <-chan struct{} {
	out := make(chan struct{}, 1)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		last := fileStamp(path)
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading configuration", "path", path)
			case <-t.C:
				now := fileStamp(path)
				if now == last {
					continue
				}
				last = now
				log.Info("configuration file changed: reloading", "path", path)
			}
			select {
			case out <- struct{}{}:
			default:
			}
		}
	}()
	return out
}

type stamp struct {
	mod  time.Time
	size int64
}

func fileStamp(path string) stamp {
	st, err := os.Stat(path)
	if err != nil {
		return stamp{}
	}
	return stamp{st.ModTime(), st.Size()}
}

// reloadDevices applies the devices of the configuration file as it is now.
// A file that does not validate changes nothing. Only device definitions
// are reloaded; other sections need a restart, which is said.
func reloadDevices(ctx context.Context, cur *config.Config, devices *pool, log *slog.Logger) {
	next, err := config.Load(cur.Path)
	if err != nil {
		log.Error("reload refused: the configuration does not validate; devices unchanged", "err", err)
		return
	}
	a, b := *cur, *next
	a.Devices, b.Devices = nil, nil
	a.Simulators, b.Simulators = nil, nil
	if !reflect.DeepEqual(a, b) {
		log.Warn("reload applies device definitions only; restart the appliance to apply the other changes")
	}
	started, stopped, restarted, err := devices.apply(ctx, next.Devices)
	if err != nil {
		log.Error("reload: some devices could not be started", "err", err)
	}
	cur.Devices = next.Devices
	devices.record(stopped, devstatus.Removed, "removed from the configuration by a reload")
	devices.record(restarted, devstatus.Changed, "definition changed by a configuration reload: restarted with the new one")
	devices.record(started, devstatus.Added, "added to the configuration by a reload")
	log.Info("configuration reloaded", "started", started, "stopped", stopped, "restarted", restarted)
}
