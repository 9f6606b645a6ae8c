package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/appliance/daemon"
	"github.com/wotchain/wotchain/bridge/devstatus"
	"github.com/wotchain/wotchain/bridge/gaps"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
)

// gapsReport is what `wotchain gaps --json` prints.
type gapsReport struct {
	Device string     `json:"device"`
	From   *time.Time `json:"from,omitempty"` // nil: from the first stored reading
	To     time.Time  `json:"to"`
	Min    string     `json:"min"`
	Note   string     `json:"note,omitempty"`
	Gaps   []gaps.Gap `json:"gaps"`
}

// cmdGaps lists the stretches of a device's stream without readings and
// the signed status records that explain each, from the store, read-only:
// it works beside the running appliance (and sees the store as of opening).
func cmdGaps(args []string, stdout io.Writer) error {
	fs := newFlags("gaps")
	path := fs.String("config", "", "configuration file")
	device := fs.String("device", "", "device id")
	fromFlag := fs.String("from", "", "start of the time range (RFC 3339); default: the oldest stored reading")
	toFlag := fs.String("to", "", "end of the time range (RFC 3339); default: now")
	minGap := fs.Duration("min", 0, "list stretches without readings longer than this; default 3 poll intervals, at least 1s")
	asJSON := fs.Bool("json", false, "print JSON")
	cfg, err := parseConfig(fs, args, path)
	if err != nil {
		return err
	}
	if *device == "" {
		return fmt.Errorf("%w: --device is required", errUsage)
	}
	var from, to int64
	if *fromFlag != "" {
		if from, err = parseTime("from", *fromFlag); err != nil {
			return err
		}
	}
	to = time.Now().UnixNano()
	if *toFlag != "" {
		if to, err = parseTime("to", *toFlag); err != nil {
			return err
		}
	}
	if from >= to {
		return fmt.Errorf("%w: --from must be before --to (and now)", errUsage)
	}
	opts, err := gapOptions(cfg, *device, *minGap)
	if err != nil {
		return err
	}
	st, err := store.OpenReadOnly(daemon.StoreDir(cfg))
	if err != nil {
		return err
	}
	defer st.Close()
	if points, err := st.DevicePoints(*device); err != nil {
		return err
	} else if len(points) == 0 {
		return fmt.Errorf("the store holds no reading of device %q", *device)
	}
	rep := gapsReport{Device: *device, Min: opts.Min.String()}
	if from, rep.Note, err = prunedFloor(st, from); err != nil {
		return err
	}
	if rep.Gaps, err = findGaps(st, *device, from, to, *toFlag != "", opts); err != nil {
		return err
	}
	rep.To = time.Unix(0, to).UTC()
	if from > 0 {
		f := time.Unix(0, from).UTC()
		rep.From = &f
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printGaps(stdout, *path, rep)
	return nil
}

// gapOptions are the thresholds for a device: a gap is longer than 3 poll
// intervals (at least 1 s) unless --min says otherwise, and the record
// that begins it may come an interval plus the poll loop's timeout (the
// interval plus the device's timeout) after the last reading, and one
// interval more for a late tick. A device no longer configured gets min
// as both. A --min no longer than the poll interval is refused: every
// pause between two polls would be listed as a gap.
func gapOptions(cfg *config.Config, device string, minGap time.Duration) (gaps.Options, error) {
	var opts gaps.Options
	var interval time.Duration
	for _, d := range cfg.Devices {
		if d.ID == device {
			interval = d.Interval.D()
			opts.Min = max(3*interval, time.Second)
			opts.Slack = 3*interval + d.Timeout.D()
		}
	}
	if minGap > 0 {
		if minGap <= interval {
			return opts, fmt.Errorf("%w: --min %s is not longer than %s's poll interval (%s): every pause between two polls would be a gap; give more than the interval (the default is %s)",
				errUsage, minGap, device, interval, opts.Min)
		}
		opts.Min = minGap
	}
	if opts.Min == 0 {
		opts.Min = 3 * time.Second
	}
	return opts, nil
}

// prunedFloor moves from past the readings retention or the disk budget
// deleted from the local store: their stretch would look like a gap.
func prunedFloor(st *store.Store, from int64) (int64, string, error) {
	seq, err := st.OldestReading()
	if store.IsNotFound(err) || (err == nil && seq == 1) {
		return from, "", nil
	}
	if err != nil {
		return 0, "", err
	}
	raw, err := st.Reading(seq)
	if err != nil {
		return 0, "", err
	}
	r, err := reading.Decode(raw)
	if err != nil {
		return 0, "", fmt.Errorf("reading %d: %w", seq, err)
	}
	if from >= r.ApplianceTime {
		return from, "", nil
	}
	return r.ApplianceTime, fmt.Sprintf("readings before seq %d (%s) are pruned from the local store: gaps are listed from then on",
		seq, time.Unix(0, r.ApplianceTime).UTC().Format(time.RFC3339Nano)), nil
}

// findGaps feeds the device's records from the last reading before from
// to the first reading after to (or now) to a finder.
func findGaps(st *store.Store, device string, from, to int64, bounded bool, opts gaps.Options) ([]gaps.Gap, error) {
	values := func(point string) bool { return !devstatus.IsStatus(point) }
	start := from
	if from > 0 {
		opts.From = time.Unix(0, from)
		if last, err := st.LastDeviceReading(device, from-1, values); err == nil {
			start = last.Time
		} else if !store.IsNotFound(err) {
			return nil, err
		}
	}
	f := gaps.NewFinder(opts)
	add := func(stopAtValue bool) func(store.DeviceReading) (bool, error) {
		return func(r store.DeviceReading) (bool, error) {
			rec, err := gapRecord(st, r)
			if err != nil {
				return false, err
			}
			f.Add(rec)
			return !stopAtValue || rec.Status != "", nil
		}
	}
	if err := st.DeviceReadings(device, start, to, add(false)); err != nil {
		return nil, err
	}
	end := time.Unix(0, to)
	if bounded {
		// The stretch open at --to ends at the next reading, if any.
		var next bool
		err := st.DeviceReadings(device, to+1, math.MaxInt64, func(r store.DeviceReading) (bool, error) {
			more, err := add(true)(r)
			next = next || (err == nil && !more)
			return more, err
		})
		if err != nil {
			return nil, err
		}
		if !next {
			end = time.Now()
		}
	}
	var out []gaps.Gap
	for _, g := range f.End(end) {
		if from == 0 || g.To.UnixNano() > from {
			out = append(out, g)
		}
	}
	return out, nil
}

// gapRecord is a stored reading as the finder takes it: status records
// are decoded for their state and reason.
func gapRecord(st *store.Store, r store.DeviceReading) (gaps.Record, error) {
	rec := gaps.Record{Seq: r.Seq, Time: time.Unix(0, r.Time).UTC()}
	if !devstatus.IsStatus(r.Point) {
		return rec, nil
	}
	raw, err := st.Reading(r.Seq)
	if err != nil {
		return rec, err
	}
	rd, err := reading.Decode(raw)
	if err != nil {
		return rec, fmt.Errorf("status record %d: %w", r.Seq, err)
	}
	if rd.Str == nil {
		return rec, fmt.Errorf("status record %d has no state", r.Seq)
	}
	rec.Status, rec.Reason = devstatus.State(*rd.Str), rd.Reason
	return rec, nil
}

func printGaps(w io.Writer, cfgPath string, rep gapsReport) {
	const layout = "2006-01-02T15:04:05.000Z07:00"
	from := "the first stored reading"
	if rep.From != nil {
		from = rep.From.Format(layout)
	}
	fmt.Fprintf(w, "device %s, %s to %s: stretches without readings longer than %s\n", rep.Device, from, rep.To.Format(layout), rep.Min)
	if rep.Note != "" {
		fmt.Fprintf(w, "note: %s\n", rep.Note)
	}
	unexplained := 0
	for _, g := range rep.Gaps {
		to := g.To.Format(layout)
		if g.Ongoing {
			to += " (ongoing)"
		}
		if !g.Explained {
			unexplained++
		}
		fmt.Fprintf(w, "\nGAP %s to %s (%s)\n  %s\n", g.From.Format(layout), to, g.Length().Round(time.Millisecond), g.Reason)
		for _, r := range g.Records {
			fmt.Fprintf(w, "  seq %-8d %s  %-15s %s\n", r.Seq, r.Time.Format(layout), r.Status, r.Reason)
		}
	}
	noun := "gaps"
	if len(rep.Gaps) == 1 {
		noun = "gap"
	}
	fmt.Fprintf(w, "\n%d %s, %d UNEXPLAINED.", len(rep.Gaps), noun, unexplained)
	if len(rep.Gaps) > 0 {
		fmt.Fprintf(w, " Each status record is signed and anchored like a reading: wotchain verify --config %s --seq N", cfgPath)
	}
	fmt.Fprintln(w)
}
