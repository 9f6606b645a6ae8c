package objstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func name(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

func TestPutGet(t *testing.T) {
	ctx := context.Background()
	s, err := NewFS(filepath.Join(t.TempDir(), "objects"))
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("encrypted block")
	n := name(data)
	loc, err := s.Put(ctx, n, data)
	if err != nil {
		t.Fatal(err)
	}
	if loc != "fs:"+n || s.Path(n) != filepath.Join(s.Dir, n[:2], n) {
		t.Fatalf("location %q, path %q", loc, s.Path(n))
	}
	got, err := s.Get(ctx, loc)
	if err != nil || string(got) != string(data) {
		t.Fatalf("Get = %q, %v", got, err)
	}
	// Idempotent.
	if loc2, err := s.Put(ctx, n, data); err != nil || loc2 != loc {
		t.Fatalf("second Put = %q, %v", loc2, err)
	}
	// A corrupted copy is replaced by a new Put.
	if err := os.WriteFile(s.Path(n), []byte("garbage"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, n, data); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, loc); string(got) != string(data) {
		t.Fatalf("corrupted object not repaired: %q", got)
	}
	entries, _ := os.ReadDir(filepath.Dir(s.Path(n)))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestPutRefuses(t *testing.T) {
	ctx := context.Background()
	s, _ := NewFS(t.TempDir())
	data := []byte("x")
	for _, n := range []string{name([]byte("y")), strings.ToUpper(name(data)), name(data)[:63], "../" + name(data)[3:]} {
		if _, err := s.Put(ctx, n, data); err == nil {
			t.Errorf("Put under name %q accepted", n)
		}
	}
}

func TestGetErrors(t *testing.T) {
	ctx := context.Background()
	s, _ := NewFS(t.TempDir())
	if _, err := s.Get(ctx, "fs:"+name([]byte("absent"))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing object: %v", err)
	}
	for _, loc := range []string{"s3:" + name(nil), "fs:../../etc/passwd", "fs:" + name(nil)[:10]} {
		if _, err := s.Get(ctx, loc); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q): %v", loc, err)
		}
	}
}

func TestPutNamedNames(t *testing.T) {
	s, err := NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	kid, bid := strings.Repeat("a", 32), strings.Repeat("b", 64)
	prefix := "keys/" + kid + "/" + bid
	// A block is v1 or v2, so its deliveries are one file (v1) or a
	// directory of one file per grant (v2), never both.
	v1 := "keys/" + kid + "/" + strings.Repeat("d", 64)
	for _, name := range []string{v1, prefix + "/g1", prefix + "/Grant_2.x-y", prefix + "/~" + strings.Repeat("c", 64)} {
		loc, err := s.PutNamed(context.Background(), name, []byte(name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got, err := s.Get(context.Background(), loc); err != nil || string(got) != name {
			t.Fatalf("%s: read back %q, %v", name, got, err)
		}
	}
	for _, name := range []string{prefix + "/..", prefix + "/.g", prefix + "/", prefix + "/a/b", prefix + "/~abc",
		prefix + "/" + strings.Repeat("g", 129), "keys/" + kid + "/../" + bid} {
		if _, err := s.PutNamed(context.Background(), name, []byte("x")); err == nil {
			t.Errorf("%q accepted", name)
		}
	}
}
