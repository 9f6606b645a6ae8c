package objstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/wotchain/wotchain/bridge/envelope"
	"github.com/wotchain/wotchain/bridge/objstore"
	"github.com/wotchain/wotchain/internal/testserver"
)

func newS3(t *testing.T, m *testserver.MinIO, create bool) (*objstore.S3, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return objstore.NewS3(ctx, objstore.S3Config{
		Endpoint: m.Endpoint, Bucket: "blocks", Prefix: "plant-a/", AccessKey: m.AccessKey, SecretKey: m.SecretKey, CreateBucket: create,
	})
}

func randomObject(t *testing.T, n int) ([]byte, string) {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b, envelope.Hash(b)
}

func TestS3AgainstMinIO(t *testing.T) {
	m := testserver.StartMinIO(t)
	ctx := context.Background()

	if _, err := newS3(t, m, false); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing bucket without create_bucket: %v", err)
	}
	s, err := newS3(t, m, true)
	if err != nil {
		t.Fatal(err)
	}

	data, name := randomObject(t, 300_000)
	loc, err := s.Put(ctx, name, data)
	if err != nil {
		t.Fatal(err)
	}
	if loc != "s3://blocks/plant-a/"+name {
		t.Fatalf("location %s", loc)
	}
	got, err := s.Get(ctx, loc)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get: %v (equal %v)", err, bytes.Equal(got, data))
	}
	// Idempotent: the same object again is accepted at the same location.
	if loc2, err := s.Put(ctx, name, data); err != nil || loc2 != loc {
		t.Fatalf("second put: %s %v", loc2, err)
	}
	// Data that does not hash to its name is refused before any upload.
	if _, err := s.Put(ctx, name, data[1:]); err == nil {
		t.Fatal("put of data under a wrong name accepted")
	}
	if _, err := s.Get(ctx, s.Location(strings.Repeat("0", 64))); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("get of a missing object: %v", err)
	}

	// Someone replaces the object on the server: Get returns what the
	// server holds (verify detects it by hash), and Put repairs it.
	raw, err := minio.New(m.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(m.AccessKey, m.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte("tampered"), data[8:]...)
	if _, err := raw.PutObject(ctx, "blocks", "plant-a/"+name, bytes.NewReader(bad), int64(len(bad)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, loc); envelope.Hash(got) == name {
		t.Fatal("tampered object reads back with the right hash")
	}
	if _, err := s.Put(ctx, name, data); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, loc); envelope.Hash(got) != name {
		t.Fatal("put did not repair the tampered object")
	}

	// Outage: Put fails while the server is down and succeeds when it is back.
	m.Stop(t)
	data2, name2 := randomObject(t, 1000)
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	_, err = s.Put(short, name2, data2)
	cancel()
	if err == nil {
		t.Fatal("put succeeded with the server down")
	}
	m.Restart(t)
	if _, err := s.Put(ctx, name2, data2); err != nil {
		t.Fatalf("put after the server came back: %v", err)
	}
}
