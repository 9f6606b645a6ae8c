package secret

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValue(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s")
	if err := os.WriteFile(path, []byte("hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if v, err := Value("pw", "", path); err != nil || v != "hunter2" {
		t.Fatalf("file: %q %v", v, err)
	}
	t.Setenv("WOTCHAIN_SECRET_TEST", "from-env")
	if v, err := Value("pw", "WOTCHAIN_SECRET_TEST", path); err != nil || v != "from-env" {
		t.Fatalf("env: %q %v", v, err)
	}
	if _, err := Value("pw", "WOTCHAIN_SECRET_UNSET", ""); err == nil || !strings.Contains(err.Error(), "WOTCHAIN_SECRET_UNSET is not set") {
		t.Fatalf("unset env: %v", err)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o620} {
		os.Chmod(path, mode)
		_, err := Value("pw", "", path)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("mode %04o: %v", mode, err)
		}
	}
	os.Chmod(path, 0o400)
	if _, err := Value("pw", "", path); err != nil {
		t.Fatalf("0400 refused: %v", err)
	}
	empty := filepath.Join(dir, "e")
	os.WriteFile(empty, []byte("\n"), 0o600)
	if _, err := Value("pw", "", empty); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty secret: %v", err)
	}
}
