package keys

import (
	"crypto/ed25519"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wotchain/wotchain/chaincode/format"
)

func TestRotationFiles(t *testing.T) {
	sign := filepath.Join(t.TempDir(), "keys", "appliance.key")
	old, err := GenerateSigning(sign)
	if err != nil {
		t.Fatal(err)
	}
	next, err := GeneratePending(sign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := GeneratePending(sign); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second pending key: %v, want an exists error", err)
	}
	if p := perm(t, PendingPath(sign)); p != 0o600 {
		t.Fatalf("pending key mode %04o, want 0600", p)
	}
	if err := Retire(sign, "oldid"); err != nil {
		t.Fatal(err)
	}
	// Repeating a step after a crash is harmless.
	if err := Retire(sign, "oldid"); err != nil {
		t.Fatalf("retire again: %v", err)
	}
	if err := Promote(sign); err != nil {
		t.Fatal(err)
	}
	cur, err := LoadSigning(sign)
	if err != nil || !cur.Equal(next) {
		t.Fatalf("signing key after promote: %v (equal to the new key: %v)", err, cur.Equal(next))
	}
	retired, err := LoadSigning(RetiredPath(sign, "oldid"))
	if err != nil || !retired.Equal(old) {
		t.Fatalf("retired key: %v (equal to the old key: %v)", err, retired.Equal(old))
	}
	if p := perm(t, RetiredPath(sign, "oldid")); p != 0o600 {
		t.Fatalf("retired key mode %04o, want 0600", p)
	}
	if _, err := os.Stat(PendingPath(sign)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("pending key still there: %v", err)
	}
	// The new key retired under the old key's id would overwrite history.
	if err := Retire(sign, "oldid"); err == nil {
		t.Fatal("retiring another key under an existing id succeeded")
	}
	if err := DiscardPending(sign); err != nil {
		t.Fatalf("discard without a pending key: %v", err)
	}
}

func TestLoadRetired(t *testing.T) {
	sign := filepath.Join(t.TempDir(), "keys", "appliance.key")
	if got, err := LoadRetired(sign); err != nil || len(got) != 0 {
		t.Fatalf("no retired keys: %v, %v", got, err)
	}
	old, err := GenerateSigning(sign)
	if err != nil {
		t.Fatal(err)
	}
	id := format.KeyID(old.Public().(ed25519.PublicKey))
	if err := Retire(sign, id); err != nil {
		t.Fatal(err)
	}
	got, err := LoadRetired(sign)
	if err != nil || len(got) != 1 || !got[id].Equal(old) {
		t.Fatalf("LoadRetired = %v, %v; want key %s", got, err, id)
	}
	if err := os.Link(RetiredPath(sign, id), RetiredPath(sign, "0000000000000000")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRetired(sign); err == nil || !strings.Contains(err.Error(), "named by its key id") {
		t.Fatalf("a retired key under another id: %v", err)
	}
}
