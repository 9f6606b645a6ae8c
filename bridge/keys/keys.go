// Package keys reads and writes the appliance's key files: the Ed25519 key
// that signs polls and block headers, and HPKE recipient keys that unwrap
// block data keys. Private key files must be 0600 (or stricter); a key file
// readable by others is refused, not silently used.
package keys

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/wotchain/wotchain/internal/durable"
	"github.com/wotchain/wotchain/internal/secret"
)

const (
	pemSigningPrivate = "PRIVATE KEY" // PKCS#8, as openssl writes it
	pemSigningPublic  = "PUBLIC KEY"  // PKIX
)

// ErrNotExist is returned (wrapped) when a key file is absent.
var ErrNotExist = fs.ErrNotExist

// checkPrivateFile refuses a private key that others can read or write.
func checkPrivateFile(path string) error {
	if err := secret.Check(path); err != nil {
		return fmt.Errorf("key file %w", err)
	}
	return nil
}

// writePrivateFile writes data with 0600 atomically (a crash leaves no half
// key) and refuses to overwrite an existing key.
func writePrivateFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create key directory: %w", err)
	}
	if err := durable.WriteNew(path, data, 0o600); err != nil {
		return fmt.Errorf("write key %s: %w", path, err)
	}
	return nil
}

// writePublicFile writes a public key (0644), refusing to overwrite one.
func writePublicFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("write public key %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write public key %s: %w", path, err)
	}
	return f.Close()
}

func readPEM(path, wantType string, private bool) (*pem.Block, error) {
	if private {
		if err := checkPrivateFile(path); err != nil {
			return nil, err
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("key file %s: no PEM block found", path)
	}
	if block.Type != wantType {
		return nil, fmt.Errorf("key file %s: PEM type %q, want %q", path, block.Type, wantType)
	}
	return block, nil
}

// GenerateSigning creates a new Ed25519 key at path (0600). It fails if the
// file exists: overwriting an appliance key would orphan everything it signed.
func GenerateSigning(path string) (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	if err := writePrivateFile(path, pem.EncodeToMemory(&pem.Block{Type: pemSigningPrivate, Bytes: der})); err != nil {
		return nil, err
	}
	return priv, nil
}

// LoadSigning reads an Ed25519 private key written by GenerateSigning (or openssl genpkey -algorithm ed25519).
func LoadSigning(path string) (ed25519.PrivateKey, error) {
	block, err := readPEM(path, pemSigningPrivate, true)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key file %s: %T is not an Ed25519 key", path, k)
	}
	return priv, nil
}

// LoadOrGenerateSigning loads the key, creating it on first start.
func LoadOrGenerateSigning(path string) (priv ed25519.PrivateKey, created bool, err error) {
	priv, err = LoadSigning(path)
	if errors.Is(err, fs.ErrNotExist) {
		priv, err = GenerateSigning(path)
		return priv, err == nil, err
	}
	return priv, false, err
}

// EncodeSigningPublic returns the PEM (PKIX) form of an Ed25519 public key.
func EncodeSigningPublic(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemSigningPublic, Bytes: der}), nil
}

// LoadSigningPublic reads a PEM Ed25519 public key.
func LoadSigningPublic(path string) (ed25519.PublicKey, error) {
	block, err := readPEM(path, pemSigningPublic, false)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("key file %s: %T is not an Ed25519 key", path, k)
	}
	return pub, nil
}
