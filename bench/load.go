package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"github.com/wotchain/wotchain/bridge/poll"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/protocols"
)

// LoadOptions set up the memory load: Points points in all, spread over
// Devices devices, each polled every Interval, through the whole bridge
// (ingest, seal, encrypt, upload to the filesystem, anchor on the embedded
// ledger), for Duration, with resident memory sampled every Sample.
type LoadOptions struct {
	Dir          string
	Points       int           // default 10,000
	Devices      int           // default 10
	Interval     time.Duration // default 1s
	Duration     time.Duration // default 10 minutes
	Sample       time.Duration // default 1s
	SealInterval time.Duration // default 10s
	MaxReadings  int           // default seal.DefaultMaxReadings
	// Progress, if set, gets one line per sample.
	Progress io.Writer
}

// MemSample is one sample of the process's memory.
type MemSample struct {
	At       time.Duration // since the start
	RSS      uint64        // bytes resident (VmRSS)
	GoHeap   uint64        // bytes of Go heap objects
	GoMapped uint64        // bytes the Go runtime holds from the OS (not released)
	RocksDB  store.Memory  // memtables, block cache, table readers
	Readings uint64        // ingested so far
}

// LoadResult is what the load measured.
type LoadResult struct {
	Opts      LoadOptions
	Samples   []MemSample
	Readings  uint64
	Blocks    uint64
	Peak      uint64 // highest RSS
	FirstPeak uint64 // highest RSS in the first half
	LastPeak  uint64 // highest RSS in the second half
	// SlopePerMin is the least-squares trend of RSS over the second half,
	// bytes per minute: near zero when memory is flat.
	SlopePerMin float64
}

// Flat reports whether memory stopped growing: the second half's peak is
// within 10% (or 8 MiB) of the first half's and its trend is under 1 MiB/min.
func (r LoadResult) Flat() bool {
	margin := max(r.FirstPeak/10, 8<<20)
	return r.LastPeak <= r.FirstPeak+margin && r.SlopePerMin < 1<<20
}

// Load runs the load and samples memory. Run it in a fresh process (the
// `load` stage alone) for a figure that holds nothing of other stages.
func Load(ctx context.Context, o LoadOptions) (LoadResult, error) {
	o = o.withDefaults()
	res := LoadResult{Opts: o}
	var devices []poll.Device
	for d, n := range spreadPoints(o.Points, o.Devices) {
		id := fmt.Sprintf("line-%02d", d)
		devices = append(devices, poll.Device{ID: id, Interval: o.Interval, Timeout: o.Interval + 2*time.Second, Source: protocols.Source(newSynthetic(id, n))})
	}
	p, err := startPipeline(ctx, pipelineConfig{Dir: o.Dir, MaxReadings: o.MaxReadings, SealInterval: o.SealInterval, Devices: devices})
	if err != nil {
		return res, err
	}
	if res.Samples, err = sampleLoad(ctx, p, o); err != nil {
		p.Close()
		return res, err
	}
	res.Readings, res.Blocks = p.readings(), p.anchors.Load()
	if err := p.Close(); err != nil {
		return res, err
	}
	res.summarise()
	if len(res.Samples) == 0 {
		return res, fmt.Errorf("load stopped before the first memory sample: %w", ctx.Err())
	}
	return res, nil
}

// withDefaults fills the zero options; there are never more devices than
// points.
func (o LoadOptions) withDefaults() LoadOptions {
	if o.Points <= 0 {
		o.Points = 10_000
	}
	if o.Devices <= 0 {
		o.Devices = 10
	}
	o.Devices = min(o.Devices, o.Points)
	o.Interval = orDefault(o.Interval, time.Second)
	o.Duration = orDefault(o.Duration, 10*time.Minute)
	o.Sample = orDefault(o.Sample, time.Second)
	o.SealInterval, o.MaxReadings = sealDefaults(o.SealInterval, o.MaxReadings)
	return o
}

// spreadPoints gives each of devices its number of points, the remainder
// going one each to the first devices.
func spreadPoints(points, devices int) []int {
	out := make([]int, devices)
	for d := range out {
		out[d] = points / devices
		if d < points%devices {
			out[d]++
		}
	}
	return out
}

// sampleLoad samples memory every o.Sample until o.Duration has passed or
// ctx ends, writing a progress line per sample if asked to.
func sampleLoad(ctx context.Context, p *pipeline, o LoadOptions) ([]MemSample, error) {
	var samples []MemSample
	start := time.Now()
	tick := time.NewTicker(o.Sample)
	defer tick.Stop()
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case <-tick.C:
			s, err := sampleMemory()
			if err != nil {
				return samples, err
			}
			s.At, s.Readings, s.RocksDB = time.Since(start), p.readings(), p.st.Memory()
			samples = append(samples, s)
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "load %6.0fs  rss %6.1f MiB  go heap %5.1f MiB (runtime %5.1f MiB)  rocksdb memtables %5.1f MiB block cache %5.1f MiB table readers %5.1f MiB  readings %d  blocks anchored %d\n",
					s.At.Seconds(), mib(s.RSS), mib(s.GoHeap), mib(s.GoMapped), mib(s.RocksDB.Memtables), mib(s.RocksDB.BlockCache),
					mib(s.RocksDB.TableReaders), s.Readings, p.anchors.Load())
			}
			running = s.At < o.Duration
		}
	}
	return samples, nil
}

func (r *LoadResult) summarise() {
	half := len(r.Samples) / 2
	var xs, ys []float64
	for i, s := range r.Samples {
		r.Peak = max(r.Peak, s.RSS)
		if i < half {
			r.FirstPeak = max(r.FirstPeak, s.RSS)
			continue
		}
		r.LastPeak = max(r.LastPeak, s.RSS)
		xs = append(xs, s.At.Minutes())
		ys = append(ys, float64(s.RSS))
	}
	r.SlopePerMin = slope(xs, ys)
}

// slope is the least-squares slope of ys over xs (0 for fewer than two points).
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / den
}

// sampleMemory reads VmRSS from /proc/self/status and the Go heap size.
func sampleMemory() (MemSample, error) {
	rss, err := residentBytes()
	if err != nil {
		return MemSample{}, err
	}
	m := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	metrics.Read(m)
	return MemSample{RSS: rss, GoHeap: m[0].Value.Uint64(), GoMapped: m[1].Value.Uint64() - m[2].Value.Uint64()}, nil
}

func residentBytes() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("resident memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("resident memory: %q: %w", sc.Text(), err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("resident memory: no VmRSS in /proc/self/status: %v", sc.Err())
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
