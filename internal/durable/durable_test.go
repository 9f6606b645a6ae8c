package durable

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(f, []byte("data")); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(p); err != nil || string(got) != "data" {
		t.Fatalf("read %q, %v", got, err)
	}
	if err := f.Close(); err == nil {
		t.Fatal("Write left the file open")
	}
}

func TestWriteClosesOnError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p) // read-only: the write fails
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(f, []byte("data")); err == nil {
		t.Fatal("write to a read-only file succeeded")
	}
	if err := f.Close(); err == nil {
		t.Fatal("Write left the file open after an error")
	}
}
