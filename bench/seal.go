package bench

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/wotchain/wotchain/bridge/ingest"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/objstore"
	"github.com/wotchain/wotchain/bridge/outbox"
	bpipeline "github.com/wotchain/wotchain/bridge/pipeline"
	"github.com/wotchain/wotchain/bridge/seal"
	"github.com/wotchain/wotchain/bridge/store"
	"github.com/wotchain/wotchain/internal/durable"
	"github.com/wotchain/wotchain/protocols"
)

// pointsPerPoll is the poll size the seal and ledger workloads ingest with.
const pointsPerPoll = 100

// SealCase is the seal stage: blocks of BlockReadings readings (the
// seal.max_readings setting), sealed, encrypted for the owner and one
// partner, and uploaded to Storage ("fs" or "s3").
type SealCase struct {
	BlockReadings int
	Storage       string
	Dir           string
	S3            *objstore.S3Config // the bucket for "s3"
}

func (c SealCase) String() string {
	return fmt.Sprintf("block=%d/%s", c.BlockReadings, c.Storage)
}

// sealPipeline is a store with an ingester and a sealer, as the daemon
// wires them (in the block format the appliance writes), without the poll
// loops.
type sealPipeline struct {
	st     *store.Store
	key    ed25519.PrivateKey
	in     *ingest.Ingester
	sealer *seal.Sealer
	polls  int
	clock  time.Time
}

func newSealPipeline(dir string, blockReadings int) (*sealPipeline, error) {
	st, err := store.Open(dir)
	if err != nil {
		return nil, err
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	var recipients []hpke.PublicKey
	for range 2 { // the owner and one partner, as in configs/example-plant.yaml
		kem, err := hpke.NewKEM(keys.KEMX25519)
		if err != nil {
			st.Close()
			return nil, err
		}
		priv, err := kem.GenerateKey()
		if err != nil {
			st.Close()
			return nil, err
		}
		recipients = append(recipients, priv.PublicKey())
	}
	in, err := ingest.New(st, ApplianceID, key, nil, ingest.WithFormat(bpipeline.DefaultFormat))
	if err != nil {
		st.Close()
		return nil, err
	}
	sealer, err := seal.New(st, ApplianceID, key, recipients, blockReadings)
	if err != nil {
		st.Close()
		return nil, err
	}
	return &sealPipeline{st: st, key: key, in: in, sealer: sealer, clock: time.Now()}, nil
}

// ingestReadings ingests n readings as polls of up to pointsPerPoll points
// from ten devices in turn.
func (p *sealPipeline) ingestReadings(n int) error {
	for n > 0 {
		size := min(n, pointsPerPoll)
		samples := make([]protocols.Sample, size)
		for i := range samples {
			samples[i] = protocols.Sample{Point: fmt.Sprintf("zone%03d.temperature", i), Value: 20 + float64((p.polls+i)%500)/10, Unit: "degC", Quality: protocols.Good}
		}
		p.clock = p.clock.Add(100 * time.Millisecond)
		if _, _, err := p.in.Ingest(fmt.Sprintf("press-line-%03d", p.polls%10), samples, p.clock); err != nil {
			return err
		}
		p.polls++
		n -= size
	}
	return nil
}

// sealOne seals exactly one block from the pending readings.
func (p *sealPipeline) sealOne() (*store.BlockRecord, []byte, error) {
	blocks, err := p.sealer.Seal(false)
	if err != nil {
		return nil, nil, err
	}
	if len(blocks) != 1 {
		return nil, nil, fmt.Errorf("sealed %d blocks, want 1", len(blocks))
	}
	obj, err := p.st.Object(blocks[0].Height)
	return blocks[0], obj, err
}

// storage opens the case's object storage.
func (c SealCase) storage(ctx context.Context) (outbox.Storage, error) {
	switch c.Storage {
	case "fs":
		return objstore.NewFS(filepath.Join(c.Dir, "objects-"+c.String()))
	case "s3":
		if c.S3 == nil {
			return nil, errors.New("s3 case without a bucket")
		}
		return objstore.NewS3(ctx, *c.S3)
	}
	return nil, fmt.Errorf("unknown storage %q", c.Storage)
}

// SealUpload measures one block per operation: seal (read the readings,
// Merkle root, signed header), encrypt (AES-GCM chunks, HPKE-wrapped key
// for two recipients), commit it to the store, and upload it as the outbox
// does (content-addressed put, read back and checked, block marked
// uploaded). Ingesting the block's readings is not timed.
func (c SealCase) SealUpload(ctx context.Context) (*Workload, error) {
	p, err := newSealPipeline(filepath.Join(c.Dir, "seal-"+c.String()), c.BlockReadings)
	if err != nil {
		return nil, err
	}
	storage, err := c.storage(ctx)
	if err != nil {
		p.st.Close()
		return nil, err
	}
	return &Workload{
		Name:    "seal+encrypt+upload " + c.String(),
		Workers: 1,
		Before:  func() error { return p.ingestReadings(c.BlockReadings) },
		Op: func(int) (int, int, error) {
			rec, obj, err := p.sealOne()
			if err != nil {
				return 0, 0, err
			}
			loc, err := storage.Put(ctx, rec.ObjectHash, obj)
			if err != nil {
				return 0, 0, err
			}
			rec.Location, rec.State = loc, store.Uploaded
			return c.BlockReadings, len(obj), p.st.UpdateBlock(rec)
		},
		Close: p.st.Close,
	}, nil
}

// sampleObjects seals n blocks in a scratch store and returns their
// encrypted objects: the bytes the raw baseline copies.
func (c SealCase) sampleObjects(n int) ([][]byte, error) {
	dir := filepath.Join(c.Dir, "sample-"+c.String())
	defer os.RemoveAll(dir)
	p, err := newSealPipeline(dir, c.BlockReadings)
	if err != nil {
		return nil, err
	}
	defer p.st.Close()
	var out [][]byte
	for range n {
		if err := p.ingestReadings(c.BlockReadings); err != nil {
			return nil, err
		}
		_, obj, err := p.sealOne()
		if err != nil {
			return nil, err
		}
		out = append(out, obj)
	}
	return out, nil
}

// RawPut is the seal stage's baseline: the same object bytes copied to the
// same storage with nothing else: a new file written and fsynced, or one
// S3 PutObject.
func (c SealCase) RawPut(ctx context.Context) (*Workload, error) {
	objs, err := c.sampleObjects(4)
	if err != nil {
		return nil, err
	}
	var put func(i int, data []byte) error
	closeFn := func() {}
	switch c.Storage {
	case "fs":
		dir := filepath.Join(c.Dir, "raw-"+c.String())
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, err
		}
		put = func(i int, data []byte) error {
			f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%08d", i)))
			if err != nil {
				return err
			}
			return durable.Write(f, data)
		}
		closeFn = func() { os.RemoveAll(dir) }
	case "s3":
		if c.S3 == nil {
			return nil, errors.New("s3 case without a bucket")
		}
		client, err := minio.New(c.S3.Endpoint, &minio.Options{
			Creds: credentials.NewStaticV4(c.S3.AccessKey, c.S3.SecretKey, ""), Secure: c.S3.TLS, Region: c.S3.Region,
		})
		if err != nil {
			return nil, err
		}
		put = func(i int, data []byte) error {
			_, err := client.PutObject(ctx, c.S3.Bucket, fmt.Sprintf("%sraw/%08d", c.S3.Prefix, i), bytes.NewReader(data), int64(len(data)),
				minio.PutObjectOptions{ContentType: "application/octet-stream"})
			return err
		}
	default:
		return nil, fmt.Errorf("unknown storage %q", c.Storage)
	}
	i := 0
	return &Workload{
		Name:    "raw put " + c.String(),
		Workers: 1,
		Op: func(int) (int, int, error) {
			obj := objs[i%len(objs)]
			i++
			return c.BlockReadings, len(obj), put(i, obj)
		},
		Close: closeFn,
	}, nil
}

// SealCases are the measured block sizes and storages: the default
// seal.max_readings (1000) and a ten times larger block, on the filesystem
// and on S3.
func SealCases() []SealCase {
	return []SealCase{
		{BlockReadings: 1000, Storage: "fs"}, {BlockReadings: 10_000, Storage: "fs"},
		{BlockReadings: 1000, Storage: "s3"}, {BlockReadings: 10_000, Storage: "s3"},
	}
}
