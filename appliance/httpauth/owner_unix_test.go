//go:build unix

package httpauth

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func owner(t *testing.T, path string) (uid, gid uint32) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	return sys.Uid, sys.Gid
}

// Run as root (`sudo wotchain user add`), the users file and its new
// directory go to the data directory's owner, so the service reads them.
func TestWriteUsersKeepsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to change owners")
	}
	data := t.TempDir()
	if err := os.Chown(data, 4321, 4322); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(data, "http", "users")
	if err := WriteUsers(path, []User{{Name: "olga", Role: Admin, PasswordHash: cheapHash(t, "olga-password")}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, filepath.Dir(path)} {
		if uid, gid := owner(t, p); uid != 4321 || gid != 4322 {
			t.Errorf("%s owned by %d:%d, want 4321:4322", p, uid, gid)
		}
	}
}
