package httptls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSelfSigned(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	first, err := SelfSigned(keys, []string{"localhost", "127.0.0.1", "plant-gw.example"})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := SelfSignedFiles(keys)
	if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v %v, want 0600", st, err)
	}
	if !first.Created || len(first.Fingerprint) != 32*3-1 || first.TLS.MinVersion != 0x0303 {
		t.Fatalf("first start: %+v", first)
	}
	leaf, err := x509.ParseCertificate(first.TLS.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Fatalf("key %T, want ECDSA P-256", leaf.PublicKey)
	}
	if err := leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("plant-gw.example"); err != nil {
		t.Fatal(err)
	}
	if Fingerprint(leaf.Raw) != first.Fingerprint {
		t.Fatal("fingerprint is not the certificate's")
	}
	// The next start keeps the certificate: operators pinned it.
	again, err := SelfSigned(keys, nil)
	if err != nil || again.Created || again.Fingerprint != first.Fingerprint {
		t.Fatalf("second start: %+v %v", again, err)
	}
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := SelfSigned(keys, nil); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a readable key: %v", err)
	}
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	if _, err := SelfSigned(keys, nil); err == nil || !strings.Contains(err.Error(), "both") {
		t.Fatalf("a certificate without its key: %v", err)
	}
	// A configured pair loads; a missing one names its files.
	if _, err := Load(certFile, filepath.Join(keys, "none.key")); err == nil || !strings.Contains(err.Error(), "none.key") {
		t.Fatalf("missing key: %v", err)
	}
}

func TestHosts(t *testing.T) {
	h := Hosts("0.0.0.0")
	for _, want := range []string{"localhost", "127.0.0.1", "::1"} {
		if !slices.Contains(h, want) {
			t.Errorf("hosts %v lack %s", h, want)
		}
	}
	if slices.Contains(h, "0.0.0.0") {
		t.Errorf("hosts %v hold the unspecified address", h)
	}
	if !slices.Contains(Hosts("10.1.2.3"), "10.1.2.3") {
		t.Error("the listen address is not among the hosts")
	}
}
