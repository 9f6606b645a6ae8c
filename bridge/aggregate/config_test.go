package aggregate

import (
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wotchain/wotchain/protocols/fieldtest"
)

func TestValidate(t *testing.T) {
	d := func(s string) Duration { v, _ := time.ParseDuration(s); return Duration(v) }
	neg, zero, long := d("-1s"), d("0s"), d("2h")
	cases := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"defaults", Config{}, nil},
		{"explicit", Config{Windows: []Duration{d("10s"), d("1m"), d("24h")}, Stats: []string{"twmean", "count"}, Grace: &zero}, nil},
		{"sub-second window", Config{Windows: []Duration{d("500ms")}}, []string{"windows[0]"}},
		{"fractional seconds", Config{Windows: []Duration{d("1m"), d("1.5s")}}, []string{"windows[1]"}},
		{"does not divide a day", Config{Windows: []Duration{d("7m")}}, []string{"windows[0]"}},
		{"longer than a day", Config{Windows: []Duration{d("48h")}}, []string{"windows[0]"}},
		{"duplicate window", Config{Windows: []Duration{d("1m"), d("60s")}}, []string{"windows[1]"}},
		{"too many windows", Config{Windows: []Duration{d("1s"), d("2s"), d("3s"), d("4s"), d("5s"), d("6s"), d("8s"), d("10s"), d("12s")}}, []string{"windows"}},
		{"unknown stat", Config{Stats: []string{"mean", "median"}}, []string{"stats[1]"}},
		{"duplicate stat", Config{Stats: []string{"mean", "mean"}}, []string{"stats[1]"}},
		{"negative grace", Config{Grace: &neg}, []string{"grace"}},
		{"long grace", Config{Grace: &long}, []string{"grace"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := fieldtest.Paths(t, tc.cfg.Validate()); !slices.Equal(got, tc.want) {
				t.Fatalf("fields %v, want %v (%v)", got, tc.want, tc.cfg.Validate())
			}
		})
	}
}

func TestConfigYAML(t *testing.T) {
	var c Config
	dec := yaml.NewDecoder(strings.NewReader("windows: [30s, 15m, 24h]\nstats: [max, count]\ngrace: 0s\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := c.windows(); !slices.Equal(got, []time.Duration{30 * time.Second, 15 * time.Minute, day}) {
		t.Errorf("windows %v", got)
	}
	if got := c.stats(); !slices.Equal(got, []string{StatCount, StatMax}) {
		t.Errorf("stats %v (emitted in canonical order)", got)
	}
	if c.grace() != 0 {
		t.Errorf("grace %v, want an explicit 0", c.grace())
	}
	var def Config
	if def.grace() != DefaultGrace || !slices.Equal(def.windows(), DefaultWindows) || !slices.Equal(def.stats(), AllStats) {
		t.Errorf("defaults: %v %v %v", def.grace(), def.windows(), def.stats())
	}
	if err := yaml.Unmarshal([]byte("windows: [60]\n"), &c); err == nil {
		t.Error("a window without unit was accepted")
	}
}

func TestNames(t *testing.T) {
	cases := map[time.Duration]string{
		time.Second: "1s", 90 * time.Second: "90s", time.Minute: "1m", 15 * time.Minute: "15m",
		90 * time.Minute: "90m", time.Hour: "1h", 12 * time.Hour: "12h", day: "1d",
	}
	for d, want := range cases {
		if got := WindowName(d); got != want {
			t.Errorf("WindowName(%s) = %q, want %q", d, got, want)
		}
	}
	if got := PointName("line/speed", 15*time.Minute, StatTWMean); got != "line/speed/15m/twmean" {
		t.Errorf("PointName = %q", got)
	}
	if !IsAggregateDevice(AggregateDevice("boiler-1")) || IsAggregateDevice("boiler-1") || IsAggregateDevice("aggregator") {
		t.Error("IsAggregateDevice")
	}
}
