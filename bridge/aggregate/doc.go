// Package aggregate computes tumbling-window statistics of every numeric
// point and stores them as readings, so they are signed, sealed, anchored
// and verifiable exactly like the readings they summarise.
//
// # Input
//
// Readings in sequence order from the store. A reading contributes when its
// value is a float or an int (converted to float64) and its quality is Good
// or Uncertain. Bool and string values, Bad readings and status records
// (point "$status", bridge/devstatus) are ignored: they neither count nor
// end the previous value's hold. Readings of aggregate
// devices (id prefix "agg.") are skipped, so aggregates are never
// aggregated. Times are appliance times (the store's index time), not the
// devices' own clocks.
//
// # Windows
//
// For a window size W, windows are [k·W, (k+1)·W) in Unix time (W divides
// 24h, so they align to midnight UTC): a sample exactly at a boundary
// belongs to the window it starts. Per window, over the n ≥ 1 contributing
// samples (t_i, v_i) in it:
//
//   - count = n; min, max; mean = Σv_i / n; last = v_n (latest time; at equal
//     times, the later sequence number);
//   - twmean, the time-weighted mean: each value holds from its time until
//     the next sample of the point (in this window or a later one). The
//     value in force at the window's start (the point's latest earlier
//     sample, however old) holds from the start until t_1. twmean is the
//     integral of that step function over [a, end) divided by (end - a),
//     where a is the window's start if the point had an earlier sample,
//     otherwise t_1 (nothing is assumed before a point's first sample).
//
// A window without samples emits nothing, even when a held value covers it.
//
// # Closing and late samples
//
// A window closes when a sample of the same point at or after its end
// arrives, or when any reading's appliance time passes its end by the grace
// period (default 5s), whichever comes first. A sample older than the
// point's latest sample, or than the end of a closed window of the point,
// is late: it is dropped from every window size (Stats.Late), so all sizes
// see the same samples.
//
// # Output
//
// The windows closed together for one device are stored as one signed poll
// of device "agg.<device>", one reading per statistic, point
// "<point>/<window>/<stat>" (for example "temperature/15m/twmean", window
// names "90s", "1m", "1h", "1d"). Appliance time = the window's end, source
// time = its start; count is an int without unit, the others floats with
// the point's unit. Quality is Uncertain when any contributing value
// (the held one included) was Uncertain. A poll signature thus vouches for
// the aggregates like for polled values; a licensing grant covers them when
// it lists "agg.<device>".
//
// # Restarts
//
// The aggregator keeps its position and open windows in a state file,
// saved atomically every few seconds and on stop. After a restart it
// replays the readings after the saved position; closing depends only on
// the readings, so the replay recomputes exactly the same windows. Before
// storing a window it looks it up through the point index (any statistic
// of that window at that end time), so a window stored before a crash
// that lost the later state is not stored again. Without a state file it
// replays the whole store.
//
// Readings deleted locally before they were aggregated (retention, disk
// budget; whole blocks) are passed over with a warning (Stats.Skipped);
// windows that began before the first reading after them are not stored,
// since they may lack the deleted readings (Stats.Partial). The same holds
// for a window size added to the configuration: its windows are stored
// from the first one that begins after the restart.
package aggregate
