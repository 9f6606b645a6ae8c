// Package durable writes files so that what was written survives a crash.
package durable

import (
	"os"
	"path/filepath"
)

// Write writes data to f, syncs it to stable storage and closes f. f is
// closed on every path; the first error is returned.
func Write(f *os.File, data []byte) error {
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// WriteNew creates path with data and perm atomically: the data goes to a
// synced temporary file in the same directory, which is then linked to
// path (a link, unlike a rename, fails when path exists, so an existing
// file is never replaced) and the directory is synced. A reader or a crash
// sees either no file or the whole of it.
func WriteNew(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := Write(tmp, data); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// Rename renames oldPath to newPath (replacing newPath) and syncs the
// directories of both, so the rename survives a crash.
func Rename(oldPath, newPath string) error {
	if err := os.Rename(oldPath, newPath); err != nil {
		return err
	}
	if err := SyncDir(filepath.Dir(newPath)); err != nil {
		return err
	}
	if filepath.Dir(oldPath) != filepath.Dir(newPath) {
		return SyncDir(filepath.Dir(oldPath))
	}
	return nil
}

// Remove removes path and syncs its directory.
func Remove(path string) error {
	if err := os.Remove(path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir makes the entries of dir (created, renamed or removed files)
// durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
