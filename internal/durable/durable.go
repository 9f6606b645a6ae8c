// Package durable writes files so that what was written survives a crash.
package durable

import "os"

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
