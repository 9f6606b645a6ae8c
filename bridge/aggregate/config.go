package aggregate

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wotchain/wotchain/internal/yamltime"
	"github.com/wotchain/wotchain/protocols"
)

// Config is the appliance configuration's `aggregate:` section. Zero values
// mean the defaults; Validate accepts them.
type Config struct {
	// Windows are the tumbling window sizes, each a whole number of seconds
	// dividing 24h, so windows align to UTC midnight. Default 1m, 15m, 1h.
	Windows []Duration `yaml:"windows"`
	// Stats are the statistics emitted per window, from count, min, max,
	// mean, last, twmean. Default all.
	Stats []string `yaml:"stats"`
	// Grace is how far the appliance's clock (the latest reading time) must
	// pass a window's end before the window closes for a point that has not
	// reported since; it lets values a device buffered (subscriptions,
	// Observe) still arrive. Default 5s.
	Grace *Duration `yaml:"grace"`
}

// DevicePrefix starts the id of every aggregate device: the aggregates of
// device "boiler-1" are readings of device "agg.boiler-1". Real device ids
// must not start with it (the appliance configuration refuses them), and
// the aggregator skips those devices, so aggregates are never aggregated.
const DevicePrefix = "agg."

// IsAggregateDevice reports whether id names an aggregate device.
func IsAggregateDevice(id string) bool { return strings.HasPrefix(id, DevicePrefix) }

// AggregateDevice is the aggregate device of a device.
func AggregateDevice(device string) string { return DevicePrefix + device }

// Stat names, in the order they are emitted.
const (
	StatCount  = "count"
	StatMin    = "min"
	StatMax    = "max"
	StatMean   = "mean"
	StatLast   = "last"
	StatTWMean = "twmean"
)

// AllStats lists every statistic.
var AllStats = []string{StatCount, StatMin, StatMax, StatMean, StatLast, StatTWMean}

// DefaultWindows and DefaultGrace are the defaults of the optional keys.
var DefaultWindows = []time.Duration{time.Minute, 15 * time.Minute, time.Hour}

const (
	DefaultGrace = 5 * time.Second
	maxWindows   = 8
	day          = 24 * time.Hour
)

// Duration is the YAML duration every configuration section uses.
type Duration = yamltime.Duration

func (c *Config) windows() []time.Duration {
	if len(c.Windows) == 0 {
		return DefaultWindows
	}
	out := make([]time.Duration, len(c.Windows))
	for i, w := range c.Windows {
		out[i] = w.D()
	}
	return out
}

func (c *Config) stats() []string {
	if len(c.Stats) == 0 {
		return AllStats
	}
	// Emit in the canonical order whatever the configured order.
	var out []string
	for _, s := range AllStats {
		if slices.Contains(c.Stats, s) {
			out = append(out, s)
		}
	}
	return out
}

func (c *Config) grace() time.Duration {
	if c.Grace == nil {
		return DefaultGrace
	}
	return c.Grace.D()
}

// Validate checks the section. Each error is a *protocols.FieldError whose
// field is relative to the section (for example "windows[1]"); they are
// joined with errors.Join.
func (c *Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, protocols.FieldErrorf(field, format, args...))
	}
	if len(c.Windows) > maxWindows {
		add("windows", "at most %d windows (got %d)", maxWindows, len(c.Windows))
	}
	seen := map[time.Duration]bool{}
	for i, w := range c.Windows {
		f := fmt.Sprintf("windows[%d]", i)
		switch d := w.D(); {
		case d < time.Second || d%time.Second != 0:
			add(f, "must be a whole number of seconds, at least 1s (got %s)", d)
		case d > day || day%d != 0:
			add(f, "must divide 24h evenly, so windows align to midnight UTC (got %s)", d)
		case seen[d]:
			add(f, "%s is listed twice", d)
		}
		seen[w.D()] = true
	}
	seenStat := map[string]bool{}
	for i, s := range c.Stats {
		f := fmt.Sprintf("stats[%d]", i)
		switch {
		case !slices.Contains(AllStats, s):
			add(f, "unknown statistic %q (want %s)", s, strings.Join(AllStats, ", "))
		case seenStat[s]:
			add(f, "%q is listed twice", s)
		}
		seenStat[s] = true
	}
	if c.Grace != nil && (c.Grace.D() < 0 || c.Grace.D() > time.Hour) {
		add("grace", "must be between 0s and 1h (got %s)", c.Grace)
	}
	return errors.Join(errs...)
}

// WindowName is how a window size appears in aggregate point names: the
// largest unit that divides it, "90s", "1m", "15m", "1h", "1d".
func WindowName(d time.Duration) string {
	switch {
	case d%day == 0:
		return fmt.Sprintf("%dd", d/day)
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

// PointName is the aggregate point of a statistic: "<point>/<window>/<stat>".
func PointName(point string, window time.Duration, stat string) string {
	return point + "/" + WindowName(window) + "/" + stat
}
