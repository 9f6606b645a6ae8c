package keys

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/internal/durable"
)

// A rotation replaces the signing key file in steps that each survive a
// crash: the next key is written beside the current one (PendingPath),
// registered on the ledger, the current key is kept under retired/ by its
// key id (Retire), and the pending key takes the current one's place
// (Promote). Retired keys are never deleted: they are the history of what
// the appliance signed.

// PendingPath is where a rotation writes the next signing key until the
// ledger has registered it.
func PendingPath(signPath string) string { return signPath + ".new" }

// RetiredDir is the directory of the keys a rotation replaced.
func RetiredDir(signPath string) string { return filepath.Join(filepath.Dir(signPath), "retired") }

// RetiredPath is where the key with id is kept once replaced.
func RetiredPath(signPath, id string) string { return filepath.Join(RetiredDir(signPath), id+".key") }

// GeneratePending writes a new signing key at PendingPath(signPath) (0600),
// refusing to replace one left by an earlier attempt.
func GeneratePending(signPath string) (ed25519.PrivateKey, error) {
	return GenerateSigning(PendingPath(signPath))
}

// Retire keeps the key file at signPath as RetiredPath(signPath, id): a
// hard link, so the file stays where it is until Promote replaces it and
// no moment is without a key file. A retired file of that id with other
// contents is an error: a key is never overwritten.
func Retire(signPath, id string) error {
	if err := checkPrivateFile(signPath); err != nil {
		return err
	}
	dst := RetiredPath(signPath, id)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("create retired key directory: %w", err)
	}
	err := os.Link(signPath, dst)
	if errors.Is(err, fs.ErrExist) {
		return sameFile(signPath, dst)
	}
	if err != nil {
		return fmt.Errorf("retire key %s: %w", signPath, err)
	}
	return durable.SyncDir(filepath.Dir(dst))
}

// sameFile accepts an already retired key (a rotation repeated after a
// crash) and refuses another key under the same name.
func sameFile(src, dst string) error {
	a, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		return err
	}
	if !bytes.Equal(a, b) {
		return fmt.Errorf("retire key %s: %s already holds another key", src, dst)
	}
	return nil
}

// Promote makes the pending key the signing key: one synced rename that
// replaces the (retired) key file at signPath.
func Promote(signPath string) error {
	if err := checkPrivateFile(PendingPath(signPath)); err != nil {
		return err
	}
	if err := durable.Rename(PendingPath(signPath), signPath); err != nil {
		return fmt.Errorf("install new key %s: %w", signPath, err)
	}
	return nil
}

// DiscardPending removes the pending key of a rotation that did not reach
// the ledger (nothing was ever signed with it).
func DiscardPending(signPath string) error {
	if err := durable.Remove(PendingPath(signPath)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", PendingPath(signPath), err)
	}
	return nil
}

// LoadRetired reads the keys under RetiredDir(signPath), the keys earlier
// rotations replaced, by key id. A file whose name is not its key's id is
// refused: the name is how operators and the ledger's history find it.
func LoadRetired(signPath string) (map[string]ed25519.PrivateKey, error) {
	dir := RetiredDir(signPath)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("retired keys: %w", err)
	}
	out := map[string]ed25519.PrivateKey{}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".key")
		if !ok || e.IsDir() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		k, err := LoadSigning(path)
		if err != nil {
			return nil, fmt.Errorf("retired key: %w", err)
		}
		if got := format.KeyID(k.Public().(ed25519.PublicKey)); got != id {
			return nil, fmt.Errorf("retired key %s holds key %s: a retired key file is named by its key id", path, got)
		}
		out[id] = k
	}
	return out, nil
}
