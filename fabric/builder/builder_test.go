package builder

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestScripts runs the three scripts the way a peer does.
func TestScripts(t *testing.T) {
	dir, err := Install(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	src, meta, out, rel := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	conn := `{"address":"127.0.0.1:9999","dial_timeout":"10s","tls_required":false}`
	write(t, filepath.Join(src, "connection.json"), conn)

	write(t, filepath.Join(meta, "metadata.json"), `{"type":"golang","label":"x"}`)
	if run(t, dir, "detect", src, meta) == nil {
		t.Fatal("detect claimed a golang package")
	}
	write(t, filepath.Join(meta, "metadata.json"), `{"type": "ccaas", "label":"wotchain_1"}`)
	if err := run(t, dir, "detect", src, meta); err != nil {
		t.Fatalf("detect refused a ccaas package: %v", err)
	}
	if err := run(t, dir, "build", src, meta, out); err != nil {
		t.Fatalf("build: %v", err)
	}
	if err := run(t, dir, "release", out, rel); err != nil {
		t.Fatalf("release: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(rel, "chaincode", "server", "connection.json"))
	if err != nil || string(got) != conn {
		t.Fatalf("released connection.json %q, %v", got, err)
	}
}

func run(t *testing.T, dir, script string, args ...string) error {
	t.Helper()
	out, err := exec.Command(filepath.Join(dir, "bin", script), args...).CombinedOutput()
	if err != nil {
		t.Logf("%s: %s", script, out)
	}
	return err
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
