package daemon

import (
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/bridge/devstatus"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
)

// runStatus records a run's start and clean stop as status records of the
// devices, and keeps the store's run mark: set at start, cleared after the
// final seal of a clean stop, so the next start knows whether this run
// stopped cleanly.
type runStatus struct {
	st  *store.Store
	rec *devstatus.Recorder
	log *slog.Logger
}

// beginRun sets the run mark and records, for every device, started, or
// started-unclean naming the last stored readings when the previous run
// did not stop cleanly. It runs before any device polls, so the record
// closes the stretch without readings the unclean stop left.
func beginRun(st *store.Store, sink devstatus.Sink, devices []config.Device, log *slog.Logger) (*runStatus, error) {
	r := &runStatus{st: st, rec: devstatus.NewRecorder(sink, log), log: log}
	unclean, err := st.MarkRunning(time.Now().UnixNano())
	if err != nil {
		return nil, err
	}
	if unclean == 0 {
		for _, d := range devices {
			_, _ = r.rec.Record(d.ID, devstatus.Started, "appliance started")
		}
		return r, nil
	}
	appliance := r.lastOfAppliance()
	log.Warn("the previous run did not stop cleanly (killed, crashed or powered off); every acknowledged reading is stored",
		"run_started", time.Unix(0, unclean).UTC(), "last_reading", appliance)
	for _, d := range devices {
		reason := fmt.Sprintf("previous run (started %s) did not stop cleanly; last stored reading of the device: %s; of the appliance: %s",
			utcStamp(unclean), r.lastOfDevice(d.ID), appliance)
		_, _ = r.rec.Record(d.ID, devstatus.StartedUnclean, reason)
	}
	return r, nil
}

// stopping records the devices stopped: they have stopped polling, and
// the final seal follows.
func (r *runStatus) stopping(devices []string) {
	r.rec.RecordAll(devices, devstatus.Stopped, "appliance stopped cleanly")
}

// end clears the run mark after the final seal.
func (r *runStatus) end() {
	if err := r.st.ClearRunning(); err != nil {
		r.log.Error("the next start will report this clean stop as unclean", "err", err)
	}
}

// lastOfDevice names the device's last stored reading of a value (status
// records left out): "seq N at T".
func (r *runStatus) lastOfDevice(device string) string {
	values := func(point string) bool { return !devstatus.IsStatus(point) }
	last, err := r.st.LastDeviceReading(device, math.MaxInt64, values)
	if store.IsNotFound(err) {
		return "none"
	}
	if err != nil {
		return fmt.Sprintf("unknown (%v)", err)
	}
	return fmt.Sprintf("seq %d at %s", last.Seq, utcStamp(last.Time))
}

// lastOfAppliance names the appliance's last stored reading.
func (r *runStatus) lastOfAppliance() string {
	next, err := r.st.NextSeq()
	if err != nil {
		return fmt.Sprintf("unknown (%v)", err)
	}
	if next <= 1 {
		return "none"
	}
	raw, err := r.st.Reading(next - 1)
	if err != nil {
		return fmt.Sprintf("seq %d (%v)", next-1, err)
	}
	rd, err := reading.Decode(raw)
	if err != nil {
		return fmt.Sprintf("seq %d (%v)", next-1, err)
	}
	return fmt.Sprintf("seq %d at %s (device %s)", rd.Seq, utcStamp(rd.ApplianceTime), rd.DeviceID)
}

func utcStamp(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
