package bench

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/linxGnu/grocksdb"

	"github.com/wotchain/wotchain/bridge/ingest"
	bpipeline "github.com/wotchain/wotchain/bridge/pipeline"
	"github.com/wotchain/wotchain/bridge/reading"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/protocols"
)

// ApplianceID is the appliance id the benchmarks sign as; its length is a
// typical one, since it is part of every stored reading.
const ApplianceID = "plant-a-cabinet-3"

// IngestCase is the ingest stage at one poll size: Devices devices each
// polling Points points, concurrently, into fresh stores under Dir.
type IngestCase struct {
	Points  int
	Devices int
	Dir     string
}

func (c IngestCase) String() string { return fmt.Sprintf("points=%d/devices=%d", c.Points, c.Devices) }

// devicePoll is one device's poll: a plausible plant layout of Points
// float readings with units.
func (c IngestCase) devicePoll(d int) (string, []protocols.Sample) {
	samples := make([]protocols.Sample, c.Points)
	for i := range samples {
		samples[i] = protocols.Sample{Point: fmt.Sprintf("zone%03d.temperature", i), Value: 20 + float64(i%500)/10, Unit: "degC", Quality: protocols.Good}
	}
	return fmt.Sprintf("press-line-%03d", d), samples
}

// Ingest measures ingest.Ingester in the block format the appliance writes
// (bpipeline.DefaultFormat): normalise, sign each poll, and commit it
// durably (one synced RocksDB batch per group of concurrent polls). Each
// operation is one poll, timed from the poll result to durable.
func (c IngestCase) Ingest() (*Workload, error) {
	st, err := store.Open(c.dir("ingest"))
	if err != nil {
		return nil, err
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		st.Close()
		return nil, err
	}
	in, err := ingest.New(st, ApplianceID, key, nil, ingest.WithFormat(bpipeline.DefaultFormat))
	if err != nil {
		st.Close()
		return nil, err
	}
	devices := make([]string, c.Devices)
	polls := make([][]protocols.Sample, c.Devices)
	for d := range devices {
		devices[d], polls[d] = c.devicePoll(d)
	}
	return &Workload{
		Name:    "ingest " + c.String(),
		Workers: c.Devices,
		Op: func(w int) (int, int, error) {
			_, _, err := in.Ingest(devices[w], polls[w], time.Now())
			return c.Points, 0, err
		},
		Close: st.Close,
	}, nil
}

// pollBytes are the key-value pairs one poll of a device writes, as
// store.CommitPolls lays them out, with the canonical reading bytes the
// ingest stage produced for it.
type pollBytes struct {
	device   string
	points   []string
	readings [][]byte
	record   []byte
	v2       bool // a v2 poll: its device's next poll index is written too
}

// capture ingests one poll per device into a scratch store and reads back
// exactly what was stored, so the raw baselines write the same bytes.
func (c IngestCase) capture() ([]pollBytes, error) {
	dir := c.dir("capture")
	defer os.RemoveAll(dir)
	st, err := store.Open(dir)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	in, err := ingest.New(st, ApplianceID, key, nil, ingest.WithFormat(bpipeline.DefaultFormat))
	if err != nil {
		return nil, err
	}
	out := make([]pollBytes, c.Devices)
	for d := range out {
		dev, samples := c.devicePoll(d)
		first, last, err := in.Ingest(dev, samples, time.Now())
		if err != nil {
			return nil, err
		}
		raws, err := st.Readings(first, last)
		if err != nil {
			return nil, err
		}
		_, rec, err := st.PollAt(first)
		if err != nil {
			return nil, err
		}
		pr, err := reading.DecodePoll(rec)
		if err != nil {
			return nil, err
		}
		out[d] = pollBytes{device: dev, readings: raws, record: rec, v2: pr.Version() == reading.PollV2}
		for _, s := range samples {
			out[d].points = append(out[d].points, s.Point)
		}
	}
	return out, nil
}

// RawWrite is the write baseline: the same keys and values as Ingest stores
// (readings, index entries, poll record, next-seq counter, and for a v2
// poll its device's next poll index), written with
// bare grocksdb WriteBatches into a database with the store's options and
// the same sync policy (synced), one batch per poll, from Devices
// goroutines at once (RocksDB joins concurrent synced writes itself).
func (c IngestCase) RawWrite() (*Workload, error) {
	polls, err := c.capture()
	if err != nil {
		return nil, err
	}
	db, cfs, closeDB, err := openRaw(c.dir("raw-write"), "readings", "polls", "index", "meta")
	if err != nil {
		return nil, err
	}
	wo := grocksdb.NewDefaultWriteOptions()
	wo.SetSync(true)
	var nextSeq atomic.Uint64
	nextSeq.Store(1)
	keys := make([][]byte, c.Devices) // per worker scratch
	return &Workload{
		Name:    "raw grocksdb write " + c.String(),
		Workers: c.Devices,
		Op: func(w int) (int, int, error) {
			p := polls[w]
			n := uint64(len(p.readings))
			first := nextSeq.Add(n) - n
			t := uint64(time.Now().UnixNano())
			wb := grocksdb.NewWriteBatch()
			defer wb.Destroy()
			k := keys[w]
			size := 0
			for i, v := range p.readings {
				seq := first + uint64(i)
				k = binary.BigEndian.AppendUint64(k[:0], seq)
				wb.PutCF(cfs[0], k, v)
				k = append(append(append(append(k[:0], p.device...), 0), p.points[i]...), 0)
				k = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(k, t), seq)
				wb.PutCF(cfs[2], k, nil)
				size += len(v)
			}
			k = binary.BigEndian.AppendUint64(k[:0], first)
			wb.PutCF(cfs[1], k, p.record)
			wb.PutCF(cfs[3], []byte("next_seq"), binary.BigEndian.AppendUint64(nil, first+n))
			if p.v2 {
				wb.PutCF(cfs[3], []byte("next_poll_index/"+p.device), binary.BigEndian.AppendUint64(nil, first))
			}
			keys[w] = k
			return int(n), size, db.Write(wo, wb)
		},
		Close: func() { wo.Destroy(); closeDB() },
	}, nil
}

// RawSign is the signing baseline: one Ed25519 signature over the same
// poll statement per operation (v1: domain, ids, range and every reading's
// leaf hash; v2: domain, ids, range, poll index and poll root), from
// Devices goroutines at once.
func (c IngestCase) RawSign() (*Workload, error) {
	polls, err := c.capture()
	if err != nil {
		return nil, err
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	msgs := make([][]byte, len(polls))
	for d, p := range polls {
		if p.v2 {
			rec, err := reading.DecodePoll(p.record)
			if err != nil {
				return nil, err
			}
			if msgs[d], err = rec.Statement(); err != nil {
				return nil, err
			}
			continue
		}
		hashes := make([][]byte, len(p.readings))
		for i, r := range p.readings {
			hashes[i] = reading.LeafHash(r)
		}
		rec := reading.PollRecord{ApplianceID: ApplianceID, DeviceID: p.device, FirstSeq: 1, LastSeq: uint64(len(hashes))}
		if msgs[d], err = rec.PollMessage(hashes); err != nil {
			return nil, err
		}
	}
	return &Workload{
		Name:    "raw ed25519 sign " + c.String(),
		Workers: c.Devices,
		Op: func(w int) (int, int, error) {
			ed25519.Sign(key, msgs[w])
			return c.Points, len(msgs[w]), nil
		},
		Close: func() {},
	}, nil
}

func (c IngestCase) dir(what string) string {
	return filepath.Join(c.Dir, fmt.Sprintf("%s-%d-%d", what, c.Points, c.Devices))
}

// openRaw opens a bare RocksDB database with the options store.Open uses
// (LZ4, defaults otherwise) and the named column families.
func openRaw(dir string, families ...string) (*grocksdb.DB, []*grocksdb.ColumnFamilyHandle, func(), error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, nil, err
	}
	opts := grocksdb.NewDefaultOptions()
	opts.SetCreateIfMissing(true)
	opts.SetCreateIfMissingColumnFamilies(true)
	opts.SetCompression(grocksdb.LZ4Compression)
	names := append([]string{"default"}, families...)
	cfOpts := make([]*grocksdb.Options, len(names))
	for i := range cfOpts {
		cfOpts[i] = opts
	}
	db, handles, err := grocksdb.OpenDbColumnFamilies(opts, dir, names, cfOpts)
	if err != nil {
		opts.Destroy()
		return nil, nil, nil, fmt.Errorf("raw rocksdb %s: %w", dir, err)
	}
	closeDB := func() {
		for _, h := range handles {
			h.Destroy()
		}
		db.Close()
		opts.Destroy()
	}
	return db, handles[1:], closeDB, nil
}

// IngestCases are the measured poll sizes: each with one device (one poll
// in flight, one fsync per poll) and with several devices polling at once
// (their polls share fsyncs through the group commit).
func IngestCases() []IngestCase {
	return []IngestCase{
		{Points: 1, Devices: 1}, {Points: 1, Devices: 256},
		{Points: 100, Devices: 1}, {Points: 100, Devices: 32},
		{Points: 10_000, Devices: 1}, {Points: 10_000, Devices: 4},
	}
}
