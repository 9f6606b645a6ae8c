// Package objstore holds encrypted block objects, content-addressed: an
// object's name is the hex SHA-256 of its bytes. The filesystem backend is
// the embedded default; other backends (S3-compatible) offer the same verbs.
package objstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/wotchain/wotchain/internal/durable"
)

// ErrNotFound means no object has that name.
var ErrNotFound = errors.New("object not found")

// FS stores objects as files under Dir/ab/abcdef... (two-character fan-out
// keeps directories small).
type FS struct{ Dir string }

// NewFS creates the directory if needed.
func NewFS(dir string) (*FS, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("object storage %s: %w", dir, err)
	}
	return &FS{Dir: dir}, nil
}

func validName(name string) error {
	if len(name) != 64 || strings.Trim(name, "0123456789abcdef") != "" {
		return fmt.Errorf("object name %q is not a hex SHA-256", name)
	}
	return nil
}

// namedPattern: keys/<key id>/<block id> (v1 deliveries) and
// keys/<key id>/<block id>/<grant> (v2, envelope.GrantName: a plain name
// not starting with '.', or "~" and a hex SHA-256).
var namedPattern = regexp.MustCompile(`^keys/[0-9a-f]{32}/[0-9a-f]{64}(/([A-Za-z0-9_-][A-Za-z0-9._-]{0,127}|~[0-9a-f]{64}))?$`)

// validNamed accepts the names PutNamed may write: nothing that could
// escape the storage root or collide with a content-addressed object.
func validNamed(name string) error {
	if !namedPattern.MatchString(name) {
		return fmt.Errorf("object name %q is neither a hex SHA-256 nor keys/<key id>/<block id>[/<grant>]", name)
	}
	return nil
}

func (s *FS) path(name string) string {
	if validName(name) != nil {
		return filepath.Join(s.Dir, filepath.FromSlash(name)) // a named object; checked by validNamed
	}
	return filepath.Join(s.Dir, name[:2], name)
}

// Location is what the ledger records for an object of this store.
func (s *FS) Location(name string) string { return "fs:" + name }

// Put stores data under name (its hash) and returns its location. Putting an
// object that is already there is a no-op; the write is atomic and synced,
// and what was written is read back and checked before Put returns.
func (s *FS) Put(ctx context.Context, name string, data []byte) (string, error) {
	if err := validName(name); err != nil {
		return "", err
	}
	if hashHex(data) != name {
		return "", fmt.Errorf("object %s: data does not hash to its name", name)
	}
	p := s.path(name)
	if existing, err := os.ReadFile(p); err == nil && hashHex(existing) == name {
		return s.Location(name), nil
	}
	if err := writeAtomic(p, data); err != nil {
		return "", fmt.Errorf("object %s: %w", name, err)
	}
	back, err := s.Get(ctx, s.Location(name))
	if err != nil {
		return "", err
	}
	if hashHex(back) != name {
		return "", fmt.Errorf("object %s: read back with a different hash", name)
	}
	return s.Location(name), nil
}

// PutNamed stores data under a name that is not its hash (key deliveries,
// see envelope.DeliveryName), replacing what was there.
func (s *FS) PutNamed(_ context.Context, name string, data []byte) (string, error) {
	if err := validNamed(name); err != nil {
		return "", err
	}
	if err := writeAtomic(s.path(name), data); err != nil {
		return "", fmt.Errorf("object %s: %w", name, err)
	}
	return s.Location(name), nil
}

// writeAtomic writes a file through a synced temporary file and a rename,
// so a reader never sees half an object.
func writeAtomic(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := durable.Write(tmp, data); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(p)); err == nil {
		d.Sync() // make the rename durable; best effort on filesystems without directory sync
		d.Close()
	}
	return nil
}

// Get returns the object at location as stored, without checking its hash:
// callers (verify) check it and report a mismatch themselves.
func (s *FS) Get(_ context.Context, location string) ([]byte, error) {
	name, ok := strings.CutPrefix(location, "fs:")
	if !ok {
		return nil, fmt.Errorf("location %q is not a filesystem object", location)
	}
	if validName(name) != nil {
		if err := validNamed(name); err != nil {
			return nil, err
		}
	}
	data, err := os.ReadFile(s.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("object %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("object %s: %w", name, err)
	}
	return data, nil
}

// Path returns the file that holds an object (for operators and tests).
func (s *FS) Path(name string) string { return s.path(name) }

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
