//go:build unix

package httpauth

import (
	"os"
	"syscall"
)

// keepOwner gives paths, which root created, to the owner of ref (the
// file they replace or the nearest directory that existed): `sudo wotchain
// user add` must leave a file the service's user can still read.
func keepOwner(ref string, paths []string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	st, err := os.Stat(ref)
	if err != nil {
		return err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || sys.Uid == 0 {
		return nil
	}
	for _, p := range paths {
		if err := os.Lchown(p, int(sys.Uid), int(sys.Gid)); err != nil {
			return err
		}
	}
	return nil
}
