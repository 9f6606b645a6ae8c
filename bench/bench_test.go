package bench

import (
	"bytes"
	"context"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/appliance/config"
)

// TestRunQuick runs every stage in quick mode (a few seconds): each must
// produce its rows without an error. It checks that the benchmarks work,
// not how fast anything is.
func TestRunQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole bridge for a few seconds")
	}
	var out bytes.Buffer
	opts := Options{Dir: t.TempDir(), Quick: true, Stages: Stages}
	if err := Run(context.Background(), opts, &out); err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	table := out.String()
	for _, stage := range []string{"memory", "ingest", "seal+encrypt+upload", "ledger", "modbus", "end to end"} {
		if !strings.Contains(table, "| "+stage+" ") && !strings.Contains(table, " "+stage+" ") {
			t.Errorf("no %s row in\n%s", stage, table)
		}
	}
	if strings.Contains(table, "failed") {
		t.Errorf("a stage failed:\n%s", table)
	}
}

// TestExamplePlantLayoutMatchesConfig keeps the bench's copy of the example
// plant's Modbus device equal to configs/example-plant.yaml.
func TestExamplePlantLayoutMatchesConfig(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	cfg, err := config.LoadView(filepath.Join(filepath.Dir(file), "..", "configs", "example-plant.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range cfg.Devices {
		if d.Modbus == nil {
			continue
		}
		want := ExamplePlantLayout().Points
		if len(d.Modbus.Points) != len(want) {
			t.Fatalf("example-plant.yaml device %s has %d points, the bench %d", d.ID, len(d.Modbus.Points), len(want))
		}
		for i, p := range d.Modbus.Points {
			w := want[i]
			same := p.Name == w.Name && p.Register == w.Register && p.Address == w.Address && p.Type == w.Type &&
				p.Length == w.Length && (p.Bit == nil) == (w.Bit == nil) && (p.Bit == nil || *p.Bit == *w.Bit) &&
				(p.Order == w.Order || p.Order == "" && w.Order == "ABCD" || w.Order == "" && p.Order == "ABCD")
			if !same {
				t.Errorf("point %d: config %+v, bench %+v", i, p, w)
			}
		}
		return
	}
	t.Fatal("no Modbus device in configs/example-plant.yaml")
}

func TestPercentileAndSlope(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	if p := percentile(d, 0.5); p != 50 {
		t.Errorf("p50 = %d", p)
	}
	if p := percentile(d, 0.99); p != 99 {
		t.Errorf("p99 = %d", p)
	}
	if p := percentile(nil, 0.5); p != 0 {
		t.Errorf("p50 of nothing = %d", p)
	}
	if s := slope([]float64{0, 1, 2, 3}, []float64{5, 7, 9, 11}); s != 2 {
		t.Errorf("slope = %v", s)
	}
	flat := LoadResult{FirstPeak: 100 << 20, LastPeak: 105 << 20, SlopePerMin: 0.2 * (1 << 20)}
	growing := LoadResult{FirstPeak: 100 << 20, LastPeak: 130 << 20, SlopePerMin: 3 << 20}
	if !flat.Flat() || growing.Flat() {
		t.Errorf("Flat: %v for flat, %v for growing", flat.Flat(), growing.Flat())
	}
	if !slices.IsSorted(d) {
		t.Fatal("unsorted")
	}
}
