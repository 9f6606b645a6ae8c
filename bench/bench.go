// Package bench measures the bridge's speed and cost on the machine it runs
// on, each figure beside a baseline measured in the same run: ingest
// against bare RocksDB writes and bare Ed25519 signing, seal + encrypt +
// upload against a bare copy of the same bytes, the ledger's bytes against
// writing every reading on chain, Modbus requests with and without
// coalescing and against a bare client, the latency from a device value
// changing to its block being anchored, and resident memory under load.
//
// Run prints the table (`wotchain bench`); the Go benchmarks under bridge/
// and protocols/modbus/ drive the same workloads with b.N. docs/BENCHMARKS.md
// records the figures and the commands that reproduce them.
package bench

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wotchain/wotchain/bridge/objstore"
)

// Stages, in the order Run measures them. The memory load runs first so
// that it measures a process no other stage has used.
var Stages = []string{"load", "ingest", "seal", "ledger", "modbus", "e2e"}

// Options select and size the measurements.
type Options struct {
	// Dir holds the stores and objects the measurements write (removed
	// afterwards); empty means a new temporary directory. Put it on the disk
	// the appliance's data_dir will be on: fsync latency is most of ingest.
	Dir string
	// Stages to run (see Stages); empty means all but "load", which takes
	// LoadDuration on its own.
	Stages []string
	// Duration of each throughput measurement (ours and each baseline).
	Duration time.Duration
	// Quick runs the smallest cases for a short time, overriding the
	// durations and intervals: a check that every stage works, not figures
	// to size an installation with.
	Quick bool

	// S3 is the bucket the seal stage uploads to. When nil, a MinIO
	// server is started from MinIOBin (default: MinIOBinary()) if there is
	// one; otherwise the S3 cases are skipped.
	S3       *objstore.S3Config
	MinIOBin string

	// E2EDuration is how long the end-to-end stage changes values;
	// PollInterval and SealInterval are the device's interval and
	// seal.interval it runs with (defaults 1s and 10s, the appliance's).
	E2EDuration  time.Duration
	PollInterval time.Duration
	SealInterval time.Duration

	// LoadDuration, LoadPoints and LoadDevices size the memory load.
	LoadDuration time.Duration
	LoadPoints   int
	LoadDevices  int

	// Progress, if set, gets a line as each measurement starts.
	Progress io.Writer
}

// DefaultOptions are the figures' settings: 2 s per throughput
// measurement, one minute of end-to-end changes, and ten minutes of
// 10,000 points a second for the memory load (when selected).
func DefaultOptions() Options {
	return Options{
		Duration:     2 * time.Second,
		E2EDuration:  time.Minute,
		PollInterval: time.Second,
		SealInterval: 10 * time.Second,
		LoadDuration: 10 * time.Minute,
		LoadPoints:   10_000,
		LoadDevices:  10,
	}
}

// RegisterFlags adds flags for the options to fs (for `wotchain bench`).
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Dir, "dir", o.Dir, "scratch directory on the disk to measure (default: a temporary directory)")
	fs.Func("stages", fmt.Sprintf("comma-separated stages to run, of %s (default: all but load)", strings.Join(Stages, ",")), func(v string) error {
		o.Stages = nil
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				o.Stages = append(o.Stages, s)
			}
		}
		return checkStages(o.Stages)
	})
	fs.DurationVar(&o.Duration, "duration", o.Duration, "time per throughput measurement")
	fs.BoolVar(&o.Quick, "quick", o.Quick, "smallest cases, short runs: check that it works, not figures")
	fs.StringVar(&o.MinIOBin, "minio", o.MinIOBin, "MinIO server binary for the S3 cases (default: the one scripts/build-minio cached)")
	fs.Func("s3", "S3 bucket for the seal stage instead of a local MinIO (created if missing): endpoint/bucket over TLS, keys from $WOTCHAIN_BENCH_S3_ACCESS_KEY and $WOTCHAIN_BENCH_S3_SECRET_KEY", func(v string) error {
		endpoint, bucket, ok := strings.Cut(v, "/")
		if !ok || endpoint == "" || bucket == "" {
			return errors.New("want endpoint/bucket, e.g. s3.example.net:9000/bench")
		}
		o.S3 = &objstore.S3Config{Endpoint: endpoint, Bucket: bucket, Prefix: "wotchain-bench/", TLS: true,
			AccessKey: os.Getenv("WOTCHAIN_BENCH_S3_ACCESS_KEY"), SecretKey: os.Getenv("WOTCHAIN_BENCH_S3_SECRET_KEY")}
		return nil
	})
	fs.DurationVar(&o.E2EDuration, "e2e-duration", o.E2EDuration, "how long the end-to-end stage changes device values")
	fs.DurationVar(&o.PollInterval, "poll-interval", o.PollInterval, "device poll interval of the end-to-end stage")
	fs.DurationVar(&o.SealInterval, "seal-interval", o.SealInterval, "seal.interval of the end-to-end stage")
	fs.DurationVar(&o.LoadDuration, "load-duration", o.LoadDuration, "how long the memory load runs")
	fs.IntVar(&o.LoadPoints, "load-points", o.LoadPoints, "points polled once a second by the memory load")
	fs.IntVar(&o.LoadDevices, "load-devices", o.LoadDevices, "devices the memory load's points are spread over")
}

func checkStages(stages []string) error {
	for _, s := range stages {
		if !slices.Contains(Stages, s) {
			return fmt.Errorf("unknown stage %q (want %s)", s, strings.Join(Stages, ", "))
		}
	}
	return nil
}

// Row is one line of the table.
type Row struct {
	Stage, Case string
	Ours        string
	Baseline    string // measured in the same run, or what is compared
	Ratio       string
	Target      string
	// Verdict is "ok", "MISS" or "" when there is no target.
	Verdict string
}

// Run measures the selected stages and prints the table to w.
func Run(ctx context.Context, o Options, w io.Writer) error {
	if err := checkStages(o.Stages); err != nil {
		return err
	}
	def := DefaultOptions()
	if o.Quick {
		o.Duration, o.E2EDuration, o.LoadDuration = 200*time.Millisecond, time.Second, time.Second
		o.PollInterval, o.SealInterval = 100*time.Millisecond, 300*time.Millisecond
	}
	o.Duration = orDefault(o.Duration, def.Duration)
	o.E2EDuration = orDefault(o.E2EDuration, def.E2EDuration)
	o.PollInterval = orDefault(o.PollInterval, def.PollInterval)
	o.SealInterval = orDefault(o.SealInterval, def.SealInterval)
	o.LoadDuration = orDefault(o.LoadDuration, def.LoadDuration)
	if o.LoadPoints <= 0 {
		o.LoadPoints = def.LoadPoints
	}
	if o.LoadDevices <= 0 {
		o.LoadDevices = def.LoadDevices
	}
	stages := o.Stages
	if len(stages) == 0 {
		stages = slices.DeleteFunc(slices.Clone(Stages), func(s string) bool { return s == "load" })
	}
	dir := o.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "wotchain-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else {
		dir = filepath.Join(dir, fmt.Sprintf("wotchain-bench-%d", os.Getpid()))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	r := &runner{o: o, dir: dir}
	printHeader(w, o, dir)
	var errs []error
	for _, stage := range Stages { // in the fixed order, load first
		if !slices.Contains(stages, stage) {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		if err := r.stage(ctx, stage); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", stage, err))
			r.rows = append(r.rows, Row{Stage: stage, Case: "failed", Ours: err.Error()})
		}
	}
	printRows(w, r.rows)
	return errors.Join(errs...)
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

type runner struct {
	o    Options
	dir  string
	rows []Row
}

func (r *runner) progress(format string, args ...any) {
	if r.o.Progress != nil {
		fmt.Fprintf(r.o.Progress, "bench: "+format+"\n", args...)
	}
}

func (r *runner) add(row Row) { r.rows = append(r.rows, row) }

func (r *runner) stage(ctx context.Context, stage string) error {
	sub := filepath.Join(r.dir, stage)
	if err := os.MkdirAll(sub, 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(sub)
	switch stage {
	case "ingest":
		return r.ingest(ctx, sub)
	case "seal":
		return r.seal(ctx, sub)
	case "ledger":
		return r.ledger(ctx, sub)
	case "modbus":
		return r.modbus(ctx)
	case "e2e":
		return r.e2e(ctx, sub)
	case "load":
		return r.load(ctx, sub)
	}
	return fmt.Errorf("unknown stage %q", stage)
}

// compare builds the baseline and our workload, measures them alternately
// in rounds, so that load on a shared machine that comes and goes weighs on
// both alike, and closes them.
func (r *runner) compare(ctx context.Context, newBase, newOurs func() (*Workload, error)) (Result, Result, error) {
	base, err := newBase()
	if err != nil {
		return Result{}, Result{}, err
	}
	defer base.Close()
	ours, err := newOurs()
	if err != nil {
		return Result{}, Result{}, err
	}
	defer ours.Close()
	rounds := 3
	if r.o.Quick {
		rounds = 1
	}
	var b, o Result
	for range rounds {
		for _, x := range []struct {
			w   *Workload
			res *Result
		}{{base, &b}, {ours, &o}} {
			res, err := x.w.RunFor(ctx, r.o.Duration/time.Duration(rounds))
			if err != nil {
				return b, o, fmt.Errorf("%s: %w", x.w.Name, err)
			}
			x.res.merge(res)
		}
	}
	return b, o, nil
}

// merge adds another run of the same workload.
func (r *Result) merge(o Result) {
	r.Ops += o.Ops
	r.Readings += o.Readings
	r.Bytes += o.Bytes
	r.Elapsed += o.Elapsed
	r.lat = append(r.lat, o.lat...)
	slices.Sort(r.lat)
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISS"
}

// ingestVerdict is "ok" when both ingest targets are met, and "bound" when
// the ratio target is met and the case's own baselines, measured in the
// same run, are below 200,000 readings/s: bare synced writes of the same
// bytes, or bare signing (one signature per poll) times the points per
// poll. Then nothing built on them could reach 200,000 on this machine.
func ingestVerdict(ratio, got, rawWrite, rawSignReadings float64) string {
	switch {
	case ratio >= 0.5 && got >= 200_000:
		return "ok"
	case ratio >= 0.5 && min(rawWrite, rawSignReadings) < 200_000:
		return "bound"
	}
	return "MISS"
}

func (r *runner) ingest(ctx context.Context, dir string) error {
	cases := IngestCases()
	if r.o.Quick {
		cases = []IngestCase{{Points: 1, Devices: 1}, {Points: 100, Devices: 4}}
	}
	for _, c := range cases {
		c.Dir = dir
		r.progress("ingest %s", c)
		sign, err := c.RawSign()
		if err != nil {
			return err
		}
		signRes, err := sign.RunFor(ctx, r.o.Duration/2)
		sign.Close()
		if err != nil {
			return err
		}
		base, res, err := r.compare(ctx, c.RawWrite, c.Ingest)
		if err != nil {
			return err
		}
		ratio := res.ReadingsPerSec() / base.ReadingsPerSec()
		r.add(Row{
			Stage: "ingest",
			Case:  fmt.Sprintf("%d point(s)/poll, %d device(s)", c.Points, c.Devices),
			Ours: fmt.Sprintf("%s readings/s, p50 %s p99 %s", count(res.ReadingsPerSec()),
				ms(res.Percentile(0.5)), ms(res.Percentile(0.99))),
			Baseline: fmt.Sprintf("raw write %s/s; raw sign %s polls/s", count(base.ReadingsPerSec()), count(signRes.OpsPerSec())),
			Ratio:    fmt.Sprintf("%.2fx write, %.2fx sign", ratio, res.OpsPerSec()/signRes.OpsPerSec()),
			Target:   ">= 0.5x write, >= 200k readings/s",
			Verdict:  ingestVerdict(ratio, res.ReadingsPerSec(), base.ReadingsPerSec(), signRes.OpsPerSec()*float64(c.Points)),
		})
	}
	return nil
}

func (r *runner) seal(ctx context.Context, dir string) error {
	cases := SealCases()
	if r.o.Quick {
		cases = []SealCase{{BlockReadings: 1000, Storage: "fs"}}
	}
	s3 := r.o.S3
	if s3 == nil && slices.ContainsFunc(cases, func(c SealCase) bool { return c.Storage == "s3" }) {
		bin := r.o.MinIOBin
		if bin == "" {
			bin = MinIOBinary()
		}
		if bin == "" {
			r.add(Row{Stage: "seal", Case: "s3", Ours: "skipped: no MinIO binary (scripts/build-minio) and no --s3 bucket"})
		} else {
			r.progress("starting MinIO %s", bin)
			cfg, stop, err := startMinIO(ctx, bin, filepath.Join(dir, "minio"))
			if err != nil {
				return err
			}
			defer stop()
			s3 = cfg
		}
	} else if s3 != nil {
		if err := WaitS3(ctx, *s3, 30*time.Second); err != nil {
			return err
		}
	}
	for _, c := range cases {
		if c.Storage == "s3" && s3 == nil {
			continue
		}
		c.Dir, c.S3 = dir, s3
		r.progress("seal %s", c)
		base, res, err := r.compare(ctx,
			func() (*Workload, error) { return c.RawPut(ctx) },
			func() (*Workload, error) { return c.SealUpload(ctx) })
		if err != nil {
			return err
		}
		r.add(Row{
			Stage: "seal+encrypt+upload",
			Case:  fmt.Sprintf("%d readings/block, %s", c.BlockReadings, c.Storage),
			Ours: fmt.Sprintf("%.1f blocks/s, %.1f MB/s, p50 %s p99 %s", res.OpsPerSec(), res.MBPerSec(),
				ms(res.Percentile(0.5)), ms(res.Percentile(0.99))),
			Baseline: fmt.Sprintf("raw put %.1f blocks/s, %.1f MB/s", base.OpsPerSec(), base.MBPerSec()),
			Ratio:    fmt.Sprintf("%.2fx (%s readings/s)", res.OpsPerSec()/base.OpsPerSec(), count(res.ReadingsPerSec())),
		})
	}
	return nil
}

func (r *runner) ledger(ctx context.Context, dir string) error {
	cases := LedgerCases()
	blocks := map[int]int{1000: 20, 10_000: 5, 25_000: 2, 100_000: 2}
	if r.o.Quick {
		cases, blocks = cases[:1], map[int]int{1000: 2}
	}
	for _, c := range cases {
		c.Dir = dir
		r.progress("ledger %s", c)
		w, run, err := c.Anchor(ctx)
		if err != nil {
			return err
		}
		res, err := w.RunN(blocks[c.BlockReadings], nil)
		if err == nil {
			var cost LedgerCost
			if cost, err = run.Cost(); err == nil {
				r.add(Row{
					Stage: "ledger",
					Case:  fmt.Sprintf("%d readings/block", c.BlockReadings),
					Ours: fmt.Sprintf("state %s, blocks %s per M readings; anchor p50 %s", size(cost.StatePerM), size(cost.BlockPerM),
						ms(res.Percentile(0.5))),
					Baseline: fmt.Sprintf("every reading on chain: state %s, blocks %s", size(cost.NaiveStatePerM), size(cost.NaiveBlockPerM)),
					Ratio:    fmt.Sprintf("%.0fx smaller state, %.0fx smaller blocks", cost.StateRatio, cost.BlockRatio),
					Target:   ">= 1000x smaller",
					Verdict:  verdict(cost.StateRatio >= 1000 && cost.BlockRatio >= 1000),
				})
			}
		}
		w.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) modbus(ctx context.Context) error {
	cycles := 50
	if r.o.Quick {
		cycles = 3
	}
	for _, l := range []ModbusLayout{ExamplePlantLayout(), PressLineLayout()} {
		r.progress("modbus requests %s", l.Name)
		m, err := MeasureModbusRequests(ctx, l, cycles)
		if err != nil {
			return err
		}
		r.add(Row{
			Stage:    "modbus",
			Case:     fmt.Sprintf("requests/cycle, %s, %d points", l.Name, m.Points),
			Ours:     fmt.Sprintf("%d coalesced (%s/cycle)", m.Coalesced, ms(m.CoalescedT)),
			Baseline: fmt.Sprintf("%d without coalescing (%s/cycle)", m.Uncoalesced, ms(m.UncoalescedT)),
			Ratio:    fmt.Sprintf("%.1fx fewer", float64(m.Uncoalesced)/float64(m.Coalesced)),
			Target:   "<= uncoalesced, every sample good",
			Verdict:  verdict(m.Coalesced <= m.Uncoalesced && m.CoalescedOK && m.UncoalescedOK),
		})
	}
	r.progress("modbus per-request overhead")
	rig, err := StartModbusRig()
	if err != nil {
		return err
	}
	defer rig.Close()
	bare, err := rig.Bare()
	if err != nil {
		return err
	}
	defer bare.Close()
	src, err := rig.Source(ctx)
	if err != nil {
		return err
	}
	defer src.Close()
	// Calibrate the count to the duration from a short run of the bare loop.
	probe, err := bare.RunFor(ctx, 100*time.Millisecond)
	if err != nil {
		return err
	}
	n := max(100, int(probe.OpsPerSec()*r.o.Duration.Seconds()/2))
	base, res, err := Interleave(bare, src, n)
	if err != nil {
		return err
	}
	overhead := base.OpsPerSec() / res.OpsPerSec()
	r.add(Row{
		Stage:    "modbus",
		Case:     "per request, Source vs bare goburrow (same simulator)",
		Ours:     fmt.Sprintf("%s requests/s, p50 %s", count(res.OpsPerSec()), us(res.Percentile(0.5))),
		Baseline: fmt.Sprintf("bare %s requests/s, p50 %s", count(base.OpsPerSec()), us(base.Percentile(0.5))),
		Ratio:    fmt.Sprintf("%.2fx the bare time", overhead),
		Target:   "<= 1.1x",
		Verdict:  verdict(overhead <= 1.1),
	})
	return nil
}

func (r *runner) e2e(ctx context.Context, dir string) error {
	o := E2EOptions{Dir: dir, Duration: r.o.E2EDuration, PollInterval: r.o.PollInterval, SealInterval: r.o.SealInterval}
	r.progress("end to end for %s (poll every %s, seal every %s)", o.Duration, o.PollInterval, o.SealInterval)
	res, err := EndToEnd(ctx, o)
	if err != nil {
		return err
	}
	r.add(Row{
		Stage: "end to end",
		Case:  fmt.Sprintf("value change -> block anchored, poll %s, seal.interval %s", o.PollInterval, o.SealInterval),
		Ours: fmt.Sprintf("p50 %s p99 %s max %s (%d of %d changes)", ms(res.P50), ms(res.P99), ms(res.Max),
			res.Anchored, res.Changes),
		Baseline: fmt.Sprintf("poll wait + seal wait <= %s", o.PollInterval+o.SealInterval),
		Ratio:    fmt.Sprintf("p99 %.2fx of that", res.P99.Seconds()/(o.PollInterval+o.SealInterval).Seconds()),
		Target:   "expected: p99 <= poll + seal interval + 1s",
		Verdict:  verdict(res.P99 <= o.PollInterval+o.SealInterval+time.Second && res.Anchored == res.Changes),
	})
	return nil
}

func (r *runner) load(ctx context.Context, dir string) error {
	o := LoadOptions{Dir: dir, Points: r.o.LoadPoints, Devices: r.o.LoadDevices, Duration: r.o.LoadDuration}
	if r.o.Quick {
		o.Points, o.Sample, o.Interval, o.SealInterval = 1000, 100*time.Millisecond, 100*time.Millisecond, 300*time.Millisecond
	}
	if r.o.Progress != nil {
		o.Progress = r.o.Progress
	}
	r.progress("memory load: %d points every %s for %s", o.Points, orDefault(o.Interval, time.Second), o.Duration)
	res, err := Load(ctx, o)
	if err != nil {
		return err
	}
	last := res.Samples[len(res.Samples)-1]
	r.add(Row{
		Stage: "memory",
		Case:  fmt.Sprintf("%d points/s for %s, whole bridge", o.Points*int(time.Second/res.Opts.Interval), res.Opts.Duration),
		Ours: fmt.Sprintf("RSS peak %.0f MiB (first half %.0f, second half %.0f, end %.0f), trend %+.1f MiB/min; %s readings, %d blocks",
			mib(res.Peak), mib(res.FirstPeak), mib(res.LastPeak), mib(last.RSS), res.SlopePerMin/(1<<20), count(float64(res.Readings)), res.Blocks),
		Target:  "< 150 MiB and flat",
		Verdict: verdict(res.Peak < 150<<20 && res.Flat()),
	})
	return nil
}

func printHeader(w io.Writer, o Options, dir string) {
	host, _ := os.Hostname()
	fmt.Fprintf(w, "wotchain bench on %s: %s, %d CPUs (GOMAXPROCS %d), %s %s/%s\n", host, cpuModel(), runtime.NumCPU(),
		runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "scratch %s; %s per measurement; baselines measured in the same run, alternating with ours\n", dir, o.Duration)
	if o.Quick {
		fmt.Fprintln(w, "QUICK run: smallest cases, short runs; not figures to size an installation with")
	}
	fmt.Fprintln(w)
}

// printRows prints the rows as an aligned Markdown table, so that a run can
// be pasted into docs/BENCHMARKS.md or an issue as it is.
func printRows(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	line := func(cells ...string) { fmt.Fprintf(tw, "| %s\t|\n", strings.Join(cells, "\t| ")) }
	line("stage", "case", "ours", "baseline (same run)", "ratio", "target", "met")
	line("---", "---", "---", "---", "---", "---", "---")
	for _, r := range rows {
		line(r.Stage, r.Case, r.Ours, r.Baseline, r.Ratio, r.Target, r.Verdict)
	}
	tw.Flush()
}

// cpuModel is the first "model name" of /proc/cpuinfo, or the architecture.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// count formats a rate or count compactly: 950, 12.3k, 1.25M.
func count(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func size(b float64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", b/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}

func ms(d time.Duration) string {
	if d >= 10*time.Second {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000)
}

func us(d time.Duration) string { return fmt.Sprintf("%.1fus", float64(d.Nanoseconds())/1000) }
