package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hpke"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func perm(t *testing.T, path string) fs.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestSigningKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "appliance.key")
	priv, err := GenerateSigning(path)
	if err != nil {
		t.Fatal(err)
	}
	if p := perm(t, path); p != 0o600 {
		t.Fatalf("signing key written with mode %04o, want 0600", p)
	}
	loaded, err := LoadSigning(path)
	if err != nil {
		t.Fatal(err)
	}
	if !priv.Equal(loaded) {
		t.Fatal("loaded signing key differs from the generated one")
	}
	msg := []byte("m")
	if !ed25519.Verify(priv.Public().(ed25519.PublicKey), msg, ed25519.Sign(loaded, msg)) {
		t.Fatal("loaded key does not sign for the generated public key")
	}

	// Public key PEM round trip.
	pemPub, err := EncodeSigningPublic(priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	pubPath := filepath.Join(t.TempDir(), "appliance.pub")
	if err := os.WriteFile(pubPath, pemPub, 0o644); err != nil {
		t.Fatal(err)
	}
	pub, err := LoadSigningPublic(pubPath)
	if err != nil {
		t.Fatalf("public key (0644 is fine for it): %v", err)
	}
	if !pub.Equal(priv.Public()) {
		t.Fatal("public key round trip changed the key")
	}
}

func TestGenerateRefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	sig := filepath.Join(dir, "sig.key")
	first, err := GenerateSigning(sig)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(sig)
	if _, err := GenerateSigning(sig); err == nil {
		t.Fatal("GenerateSigning overwrote an existing key")
	}
	after, _ := os.ReadFile(sig)
	if !bytes.Equal(before, after) {
		t.Fatal("failed GenerateSigning still changed the key file")
	}
	// LoadOrGenerate keeps the existing key.
	got, created, err := LoadOrGenerateSigning(sig)
	if err != nil || created || !got.Equal(first) {
		t.Fatalf("LoadOrGenerateSigning on an existing key: created=%v err=%v same=%v", created, err, got.Equal(first))
	}

	rec := filepath.Join(dir, "owner.key")
	rfirst, err := GenerateRecipient(rec, KEMX25519)
	if err != nil {
		t.Fatal(err)
	}
	before, _ = os.ReadFile(rec)
	beforePub, _ := os.ReadFile(rec + ".pub")
	if _, err := GenerateRecipient(rec, KEMX25519); err == nil {
		t.Fatal("GenerateRecipient overwrote an existing key")
	}
	after, _ = os.ReadFile(rec)
	afterPub, _ := os.ReadFile(rec + ".pub")
	if !bytes.Equal(before, after) || !bytes.Equal(beforePub, afterPub) {
		t.Fatal("failed GenerateRecipient still changed the key files")
	}
	rgot, created, err := LoadOrGenerateRecipient(rec, KEMMLKEM768X25519)
	if err != nil || created || KeyID(rgot.PublicKey()) != KeyID(rfirst.PublicKey()) {
		t.Fatalf("LoadOrGenerateRecipient on an existing key: created=%v err=%v", created, err)
	}
}

func TestLoadOrGenerateCreates(t *testing.T) {
	dir := t.TempDir()
	priv, created, err := LoadOrGenerateSigning(filepath.Join(dir, "s.key"))
	if err != nil || !created || len(priv) != ed25519.PrivateKeySize {
		t.Fatalf("LoadOrGenerateSigning on a fresh dir: created=%v err=%v", created, err)
	}
	rpriv, created, err := LoadOrGenerateRecipient(filepath.Join(dir, "r.key"), KEMMLKEM768X25519)
	if err != nil || !created || rpriv.KEM().ID() != KEMMLKEM768X25519 {
		t.Fatalf("LoadOrGenerateRecipient on a fresh dir: created=%v err=%v", created, err)
	}
}

func TestLoadRefusesReadableKey(t *testing.T) {
	dir := t.TempDir()
	sig := filepath.Join(dir, "sig.key")
	if _, err := GenerateSigning(sig); err != nil {
		t.Fatal(err)
	}
	rec := filepath.Join(dir, "rec.key")
	if _, err := GenerateRecipient(rec, KEMX25519); err != nil {
		t.Fatal(err)
	}
	loaders := map[string]func(string) error{
		sig: func(p string) error { _, err := LoadSigning(p); return err },
		rec: func(p string) error { _, err := LoadRecipient(p); return err },
	}
	for path, load := range loaders {
		for _, mode := range []fs.FileMode{0o644, 0o640, 0o604, 0o660, 0o602} {
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			err := load(path)
			if err == nil {
				t.Fatalf("%s with mode %04o loaded", path, mode)
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "chmod 600") {
				t.Fatalf("%s mode %04o: error %q should name the file and say 'chmod 600'", path, mode, msg)
			}
		}
		for _, mode := range []fs.FileMode{0o600, 0o400} {
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			if err := load(path); err != nil {
				t.Fatalf("%s with mode %04o refused: %v", path, mode, err)
			}
		}
	}
}

func TestLoadMissingIsNotExist(t *testing.T) {
	p := filepath.Join(t.TempDir(), "absent.key")
	if _, err := LoadSigning(p); !errors.Is(err, ErrNotExist) {
		t.Fatalf("LoadSigning of a missing file: %v", err)
	}
	if _, err := LoadRecipient(p); !errors.Is(err, ErrNotExist) {
		t.Fatalf("LoadRecipient of a missing file: %v", err)
	}
}

func TestLoadWrongKind(t *testing.T) {
	dir := t.TempDir()
	sig := filepath.Join(dir, "sig.key")
	rec := filepath.Join(dir, "rec.key")
	if _, err := GenerateSigning(sig); err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateRecipient(rec, KEMX25519); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSigning(rec); err == nil {
		t.Fatal("LoadSigning accepted an HPKE key")
	}
	if _, err := LoadRecipient(sig); err == nil {
		t.Fatal("LoadRecipient accepted an Ed25519 key")
	}
	garbage := filepath.Join(dir, "garbage.key")
	if err := os.WriteFile(garbage, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSigning(garbage); err == nil {
		t.Fatal("LoadSigning accepted a file without PEM")
	}
}

func TestRecipientRoundTrip(t *testing.T) {
	for _, name := range []string{"x25519", "mlkem768-x25519"} {
		t.Run(name, func(t *testing.T) {
			kemID, err := KEMByName(name)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "owner.key")
			priv, err := GenerateRecipient(path, kemID)
			if err != nil {
				t.Fatal(err)
			}
			if p := perm(t, path); p != 0o600 {
				t.Fatalf("recipient key written with mode %04o, want 0600", p)
			}
			if priv.KEM().ID() != kemID {
				t.Fatalf("generated KEM %#04x, want %#04x", priv.KEM().ID(), kemID)
			}
			loaded, err := LoadRecipient(path)
			if err != nil {
				t.Fatal(err)
			}
			if loaded.KEM().ID() != kemID {
				t.Fatalf("loaded KEM %#04x, want %#04x", loaded.KEM().ID(), kemID)
			}
			pub, err := LoadRecipientPublic(path + ".pub")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pub.Bytes(), priv.PublicKey().Bytes()) || KeyID(pub) != KeyID(loaded.PublicKey()) {
				t.Fatal("public key file does not match the private key")
			}
			if !bytes.Equal(EncodeRecipientPublic(pub), mustRead(t, path+".pub")) {
				t.Fatal("EncodeRecipientPublic differs from the written .pub file")
			}
			// What is sealed to the public key file opens with the loaded private key.
			kdf, aead := hpke.HKDFSHA256(), hpke.AES256GCM()
			ct, err := hpke.Seal(pub, kdf, aead, []byte("info"), []byte("data key"))
			if err != nil {
				t.Fatal(err)
			}
			pt, err := hpke.Open(loaded, kdf, aead, []byte("info"), ct)
			if err != nil || string(pt) != "data key" {
				t.Fatalf("open with loaded key: %q, %v", pt, err)
			}
		})
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKEMByName(t *testing.T) {
	for name, want := range map[string]uint16{"": KEMX25519, "x25519": KEMX25519, "mlkem768-x25519": KEMMLKEM768X25519} {
		if got, err := KEMByName(name); err != nil || got != want {
			t.Errorf("KEMByName(%q) = %#04x, %v; want %#04x", name, got, err, want)
		}
	}
	for _, name := range []string{"X25519", "p256", "mlkem768"} {
		if _, err := KEMByName(name); err == nil {
			t.Errorf("KEMByName(%q) accepted", name)
		}
	}
}

func TestKeyID(t *testing.T) {
	dir := t.TempDir()
	a, err := GenerateRecipient(filepath.Join(dir, "a.key"), KEMX25519)
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateRecipient(filepath.Join(dir, "b.key"), KEMX25519)
	if err != nil {
		t.Fatal(err)
	}
	c, err := GenerateRecipient(filepath.Join(dir, "c.key"), KEMMLKEM768X25519)
	if err != nil {
		t.Fatal(err)
	}
	idA := KeyID(a.PublicKey())
	if len(idA) != 32 || strings.Trim(idA, "0123456789abcdef") != "" {
		t.Fatalf("KeyID %q is not 16 bytes of lower-case hex", idA)
	}
	loadedA, err := LoadRecipientPublic(filepath.Join(dir, "a.key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if KeyID(a.PublicKey()) != idA || KeyID(loadedA) != idA {
		t.Fatal("KeyID of the same key is not stable")
	}
	ids := map[string]bool{idA: true, KeyID(b.PublicKey()): true, KeyID(c.PublicKey()): true}
	if len(ids) != 3 {
		t.Fatalf("different keys share a KeyID: %v", ids)
	}

	// A key rebuilt from its bytes has the same id.
	kem, _ := hpke.NewKEM(0x0020)
	same, err := kem.NewPublicKey(a.PublicKey().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if KeyID(same) != idA {
		t.Fatal("KeyID differs for the same KEM and bytes")
	}
}

// A public key already on disk is never overwritten, and nothing is
// written when generation is refused.
func TestGenerateRecipientRefusesExistingPublicKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.hpke")
	if err := os.WriteFile(path+".pub", []byte("partner's key"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateRecipient(path, KEMX25519); err == nil {
		t.Fatal("generated over an existing public key")
	}
	if b, _ := os.ReadFile(path + ".pub"); string(b) != "partner's key" {
		t.Fatalf("public key overwritten: %q", b)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("private key written although generation was refused: %v", err)
	}
}
