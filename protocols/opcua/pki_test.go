package opcua

import (
	"crypto/x509"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestOwnCertGeneratedOnceWithAppURIAndPrivateKey(t *testing.T) {
	p := pki{dir: t.TempDir(), log: discard()}
	const uri = "urn:test-host:wotchain:opcua-client"

	// Devices start concurrently and share the state directory: they must
	// all end up with one certificate.
	ders := make([][]byte, 4)
	var wg sync.WaitGroup
	for i := range ders {
		wg.Go(func() {
			der, key, err := p.ownCert(uri)
			if err != nil || key == nil {
				t.Errorf("ownCert: %v", err)
			}
			ders[i] = der
		})
	}
	wg.Wait()
	for i := range ders {
		if string(ders[i]) != string(ders[0]) {
			t.Fatal("concurrent starts generated different certificates")
		}
	}

	cert, err := x509.ParseCertificate(ders[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.URIs) != 1 || cert.URIs[0].String() != uri {
		t.Errorf("certificate URIs = %v, want [%s]", cert.URIs, uri)
	}
	if cert.PublicKeyAlgorithm != x509.RSA || cert.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
		t.Errorf("certificate is not an RSA key-encipherment certificate: %v, usage %b", cert.PublicKeyAlgorithm, cert.KeyUsage)
	}
	fi, err := os.Stat(filepath.Join(p.ownDir(), "key.pem"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key.pem: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}

	// A second start reuses it.
	again, _, err := p.ownCert("urn:another:uri")
	if err != nil || string(again) != string(ders[0]) {
		t.Fatalf("second start: err %v, same certificate %v", err, string(again) == string(ders[0]))
	}

	// A certificate without its key is an error, never silently replaced.
	if err := os.Remove(filepath.Join(p.ownDir(), "key.pem")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.ownCert(uri); err == nil || !strings.Contains(err.Error(), "has no key") {
		t.Fatalf("certificate without key: err = %v", err)
	}
}

// serverCert makes a certificate standing in for a server's.
func serverCert(t *testing.T, uri string) []byte {
	t.Helper()
	der, _, err := newAppCert(uri)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestCheckServerRejectsThenTrusts(t *testing.T) {
	p := pki{dir: t.TempDir(), log: discard()}
	der := serverCert(t, "urn:plc:server")

	err := p.checkServer("opc.tcp://plc:4840", der, false)
	var ue *UntrustedCertificateError
	if !errors.As(err, &ue) {
		t.Fatalf("untrusted certificate: err = %v, want *UntrustedCertificateError", err)
	}
	if filepath.Dir(ue.Path) != p.rejectedDir() || !strings.Contains(err.Error(), ue.Path) || !strings.Contains(err.Error(), "opc.tcp://plc:4840") {
		t.Fatalf("error %q should name the file written under %s and the endpoint", err, p.rejectedDir())
	}
	saved, err := os.ReadFile(ue.Path)
	if err != nil || string(saved) != string(der) {
		t.Fatalf("rejected file: %v, same bytes %v", err, string(saved) == string(der))
	}

	// The operator's move makes it trusted, without a restart.
	if err := os.Rename(ue.Path, filepath.Join(p.trustedDir(), filepath.Base(ue.Path))); err != nil {
		t.Fatal(err)
	}
	if err := p.checkServer("opc.tcp://plc:4840", der, false); err != nil {
		t.Fatalf("after moving into trusted/: %v", err)
	}
}

func TestCheckServerTrustOnFirstUse(t *testing.T) {
	p := pki{dir: t.TempDir(), log: discard()}
	first := serverCert(t, "urn:plc:server")
	if err := p.checkServer("opc.tcp://plc:4840", first, true); err != nil {
		t.Fatalf("first use: %v", err)
	}
	entries, _ := os.ReadDir(p.trustedDir())
	if len(entries) != 1 {
		t.Fatalf("trusted/ holds %d files after first use, want 1", len(entries))
	}
	// A different certificate claiming the same application is what an
	// impostor would present: refused even with trust on first use.
	impostor := serverCert(t, "urn:plc:server")
	var ue *UntrustedCertificateError
	if err := p.checkServer("opc.tcp://plc:4840", impostor, true); !errors.As(err, &ue) {
		t.Fatalf("changed certificate of a known server: err = %v, want *UntrustedCertificateError", err)
	}
	// Another application is a first use of its own.
	if err := p.checkServer("opc.tcp://plc2:4840", serverCert(t, "urn:plc2:server"), true); err != nil {
		t.Fatalf("second server, first use: %v", err)
	}
}

func TestCheckServerAcceptsPEMInTrustList(t *testing.T) {
	p := pki{dir: t.TempDir(), log: discard()}
	// An own certificate of another store is a PEM file to copy in.
	src := pki{dir: t.TempDir(), log: discard()}
	der, _, err := src.ownCert("urn:plc:server")
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := os.ReadFile(filepath.Join(src.ownDir(), "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(p.trustedDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(p.trustedDir(), "plc.pem"), string(pemBytes), 0o644)
	writeFile(t, filepath.Join(p.trustedDir(), "junk.der"), "not a certificate", 0o644)
	if err := p.checkServer("opc.tcp://plc:4840", der, false); err != nil {
		t.Fatalf("PEM in trusted/ (next to a junk file): %v", err)
	}
	if err := p.checkServer("opc.tcp://plc:4840", []byte("garbage"), false); err == nil {
		t.Fatal("garbage certificate accepted")
	}
}
