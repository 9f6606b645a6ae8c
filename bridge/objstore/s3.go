package objstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config addresses a bucket on any S3-compatible server.
type S3Config struct {
	Endpoint     string // host:port, no scheme
	Bucket       string
	Prefix       string // key prefix, e.g. "plant-a/"; may be empty
	Region       string
	TLS          bool
	CAFile       string // extra CA for a private server certificate
	AccessKey    string
	SecretKey    string
	CreateBucket bool // create the bucket when absent (test and lab setups)
}

// S3 stores objects in an S3-compatible bucket, under Prefix + name.
type S3 struct {
	client *minio.Client
	bucket string
	prefix string
}

// NewS3 connects and checks that the bucket is reachable.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	opts := &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: cfg.TLS,
		Region: cfg.Region,
		// A few quick retries ride out a dropped connection; longer
		// outages are the outbox's to handle, with its backoff and logs.
		MaxRetries: 3,
	}
	if cfg.TLS && cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("s3 CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("s3 CA file %s: no PEM certificates", cfg.CAFile)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		opts.Transport = tr
	}
	client, err := minio.New(cfg.Endpoint, opts)
	if err != nil {
		return nil, fmt.Errorf("s3 %s: %w", cfg.Endpoint, err)
	}
	s := &S3{client: client, bucket: cfg.Bucket, prefix: cfg.Prefix}
	ok, err := client.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("s3 %s bucket %s: %w", cfg.Endpoint, cfg.Bucket, err)
	}
	if !ok {
		if !cfg.CreateBucket {
			return nil, fmt.Errorf("s3 %s: bucket %s does not exist", cfg.Endpoint, cfg.Bucket)
		}
		if err := client.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region}); err != nil {
			return nil, fmt.Errorf("s3 %s: create bucket %s: %w", cfg.Endpoint, cfg.Bucket, err)
		}
	}
	return s, nil
}

// Location is what the ledger records for an object of this store.
func (s *S3) Location(name string) string { return "s3://" + s.bucket + "/" + s.prefix + name }

// Put uploads data under its hash. An object already there with the right
// hash is not uploaded again; one with the wrong hash is replaced (the name
// says what it must hold). Before Put returns, the object is read back and
// hashed: a block counts as uploaded only when the server holds its bytes.
func (s *S3) Put(ctx context.Context, name string, data []byte) (string, error) {
	if err := validName(name); err != nil {
		return "", err
	}
	if hashHex(data) != name {
		return "", fmt.Errorf("object %s: data does not hash to its name", name)
	}
	loc := s.Location(name)
	if held, err := s.Get(ctx, loc); err == nil && hashHex(held) == name {
		return loc, nil
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		return "", err
	}
	held, err := s.putAndRead(ctx, name, data)
	if err != nil {
		return "", err
	}
	if got := hashHex(held); got != name {
		return "", fmt.Errorf("verify %s: server holds %d bytes hashing to %s", loc, len(held), got)
	}
	return loc, nil
}

// putAndRead uploads data under name and reads back what the server then
// holds, for the caller to check.
func (s *S3) putAndRead(ctx context.Context, name string, data []byte) ([]byte, error) {
	loc := s.Location(name)
	_, err := s.client.PutObject(ctx, s.bucket, s.prefix+name, strings.NewReader(string(data)), int64(len(data)),
		minio.PutObjectOptions{ContentType: "application/octet-stream", SendContentMd5: true})
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", loc, err)
	}
	held, err := s.Get(ctx, loc)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", loc, err)
	}
	return held, nil
}

// PutNamed stores data under a name that is not its hash (key deliveries,
// see envelope.DeliveryName) and checks what the server then holds.
func (s *S3) PutNamed(ctx context.Context, name string, data []byte) (string, error) {
	if err := validNamed(name); err != nil {
		return "", err
	}
	loc := s.Location(name)
	held, err := s.putAndRead(ctx, name, data)
	if err != nil {
		return "", err
	}
	if string(held) != string(data) {
		return "", fmt.Errorf("verify %s: server holds other bytes", loc)
	}
	return loc, nil
}

// Get returns the object at an s3:// location as the server holds it.
func (s *S3) Get(ctx context.Context, location string) ([]byte, error) {
	rest, ok := strings.CutPrefix(location, "s3://")
	bucket, key, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || bucket == "" || key == "" {
		return nil, fmt.Errorf("location %q is not s3://bucket/key", location)
	}
	obj, err := s.client.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", location, err)
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	if err != nil {
		var resp minio.ErrorResponse
		if errors.As(err, &resp) && resp.Code == "NoSuchKey" {
			return nil, fmt.Errorf("%s: %w", location, ErrNotFound)
		}
		return nil, fmt.Errorf("fetch %s: %w", location, err)
	}
	return data, nil
}
