package opcua

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
)

// pki is the OPC UA certificate store under protocols.Options.StateDir,
// shared by every OPC UA device of the appliance:
//
//	own/cert.pem, own/key.pem  the application instance certificate, generated on first start
//	trusted/                   server certificates an operator trusts (DER or PEM)
//	rejected/                  server certificates that were presented but not trusted
//
// The trust list is read on every connection, so moving a certificate from
// rejected/ to trusted/ takes effect at the next reconnect, without a restart.
type pki struct {
	dir string
	log *slog.Logger
}

func (p pki) ownDir() string      { return filepath.Join(p.dir, "own") }
func (p pki) trustedDir() string  { return filepath.Join(p.dir, "trusted") }
func (p pki) rejectedDir() string { return filepath.Join(p.dir, "rejected") }

// appCertLifetime is long because replacing the certificate means every
// server must trust the new one.
const appCertLifetime = 10 * 365 * 24 * time.Hour

// ownCert returns the application certificate (DER) and its key, generating
// them when absent. A lock file serialises generation between devices
// starting at once and between processes (the appliance and a browse).
func (p pki) ownCert(appURI string) ([]byte, *rsa.PrivateKey, error) {
	dir := p.ownDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("application certificate: %w", err)
	}
	unlock, err := lockFile(filepath.Join(dir, ".lock"))
	if err != nil {
		return nil, nil, fmt.Errorf("application certificate: %w", err)
	}
	defer unlock()

	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certExists, err := exists(certPath)
	if err != nil {
		return nil, nil, fmt.Errorf("application certificate: %w", err)
	}
	keyExists, err := exists(keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("application key: %w", err)
	}
	switch {
	case certExists && keyExists:
		return loadOwnCert(certPath, keyPath)
	case certExists:
		// Never replace an identity servers may already trust.
		return nil, nil, fmt.Errorf("application certificate %s has no key %s", certPath, keyPath)
	}
	// No certificate yet. A key alone is left over from an interrupted
	// generation and is replaced.
	der, key, err := newAppCert(appURI)
	if err != nil {
		return nil, nil, fmt.Errorf("generate application certificate: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return nil, nil, fmt.Errorf("write application key: %w", err)
	}
	if err := writeFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, nil, fmt.Errorf("write application certificate: %w", err)
	}
	p.log.Info("generated OPC UA application certificate", "cert", certPath, "application_uri", appURI)
	return der, key, nil
}

func loadOwnCert(certPath, keyPath string) ([]byte, *rsa.PrivateKey, error) {
	der, err := readCertFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("application certificate %s: %w", certPath, err)
	}
	if time.Now().After(cert.NotAfter) {
		return nil, nil, fmt.Errorf("application certificate %s expired on %s: delete it and %s to generate a new one, then have the servers trust the new one",
			certPath, cert.NotAfter.Format(time.DateOnly), filepath.Base(keyPath))
	}
	key, err := readRSAKey(keyPath)
	if err != nil {
		return nil, nil, err
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, nil, fmt.Errorf("application key %s does not match certificate %s", keyPath, certPath)
	}
	return der, key, nil
}

// newAppCert makes a self-signed application instance certificate as OPC UA
// Part 6, 6.2.2 wants it: the application URI in the subjectAltName, key
// usages for signing and key encipherment, client and server auth.
func newAppCert(appURI string) ([]byte, *rsa.PrivateKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	uri, err := parseURI(appURI)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	host, _ := os.Hostname()
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "wotchain OPC UA client", Organization: []string{"WoTChain"}},
		NotBefore:    now.Add(-time.Hour), // tolerate a server clock slightly behind
		NotAfter:     now.Add(appCertLifetime),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment |
			x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		URIs:                  uri,
	}
	if host != "" {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	return der, key, nil
}

// UntrustedCertificateError is returned when a server presents a
// certificate that is not in the trust list. The certificate has been
// written to Path; moving it into TrustedDir trusts it.
type UntrustedCertificateError struct {
	Endpoint   string
	Subject    string
	Thumbprint string // SHA-1, hex, as OPC UA tools show it
	Path       string
	TrustedDir string
}

func (e *UntrustedCertificateError) Error() string {
	return fmt.Sprintf("server certificate %q (SHA-1 %s) of %s is not trusted: saved to %s; move it into %s to trust it",
		e.Subject, e.Thumbprint, e.Endpoint, e.Path, e.TrustedDir)
}

// checkServer accepts the server certificate der if the trust list holds
// it, or trusts it now when tofu is set and no trusted certificate carries
// its application URI (so a changed certificate of a known server is still
// refused). Otherwise it writes der to rejected/ and returns an
// *UntrustedCertificateError.
func (p pki) checkServer(endpoint string, der []byte, tofu bool) error {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("server certificate of %s: %w", endpoint, err)
	}
	trusted, err := p.trusted()
	if err != nil {
		return err
	}
	if slices.ContainsFunc(trusted, func(t *x509.Certificate) bool { return bytes.Equal(t.Raw, der) }) {
		now := time.Now()
		if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
			return fmt.Errorf("trusted server certificate %q of %s is valid only from %s to %s",
				cert.Subject.CommonName, endpoint, cert.NotBefore.Format(time.RFC3339), cert.NotAfter.Format(time.RFC3339))
		}
		return nil
	}

	name := certFileName(cert)
	if tofu && !slices.ContainsFunc(trusted, func(t *x509.Certificate) bool { return sameApplication(t, cert) }) {
		path := filepath.Join(p.trustedDir(), name)
		if err := writeFileAtomic(path, der, 0o644); err != nil {
			return fmt.Errorf("trust server certificate of %s on first use: %w", endpoint, err)
		}
		p.log.Warn("trusted server certificate on first use", "endpoint", endpoint, "file", path,
			"subject", cert.Subject.CommonName, "sha1", thumbprint(der))
		return nil
	}

	if err := os.MkdirAll(p.rejectedDir(), 0o755); err != nil {
		return fmt.Errorf("server certificate of %s is not trusted, and saving it failed: %w", endpoint, err)
	}
	path := filepath.Join(p.rejectedDir(), name)
	if err := writeFileAtomic(path, der, 0o644); err != nil {
		return fmt.Errorf("server certificate of %s is not trusted, and saving it failed: %w", endpoint, err)
	}
	return &UntrustedCertificateError{
		Endpoint: endpoint, Subject: cert.Subject.CommonName, Thumbprint: thumbprint(der),
		Path: path, TrustedDir: p.trustedDir(),
	}
}

// trusted reads every certificate in trusted/ (.der, .cer, .crt, .pem).
// Unreadable files are logged and skipped, so one bad file does not cut
// every server off.
func (p pki) trusted() ([]*x509.Certificate, error) {
	dir := p.trustedDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("trust list: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("trust list: %w", err)
	}
	var certs []*x509.Certificate
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if !e.Type().IsRegular() || !slices.Contains([]string{".der", ".cer", ".crt", ".pem"}, ext) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		ders, err := readCertFiles(path)
		if err != nil {
			p.log.Warn("skipping unreadable trusted certificate", "file", path, "err", err)
			continue
		}
		for _, der := range ders {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				p.log.Warn("skipping invalid trusted certificate", "file", path, "err", err)
				continue
			}
			certs = append(certs, c)
		}
	}
	return certs, nil
}

func sameApplication(a, b *x509.Certificate) bool {
	for _, u := range a.URIs {
		for _, v := range b.URIs {
			if u.String() == v.String() {
				return true
			}
		}
	}
	return false
}

func thumbprint(der []byte) string {
	sum := sha1.Sum(der) // OPC UA identifies certificates by their SHA-1 thumbprint
	return hex.EncodeToString(sum[:])
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// certFileName names a certificate file the way OPC UA tools do, by
// subject and thumbprint, so an operator can tell the files apart.
func certFileName(c *x509.Certificate) string {
	cn := strings.Trim(unsafeName.ReplaceAllString(c.Subject.CommonName, "_"), "_.")
	if cn == "" {
		cn = "server"
	}
	if len(cn) > 64 {
		cn = cn[:64]
	}
	return fmt.Sprintf("%s_%s.der", cn, thumbprint(c.Raw))
}

// lockFile takes an exclusive flock, released by the returned func or when
// the process dies, so a crash never leaves a stale lock behind.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}

// writeFileAtomic writes through a temporary file and a rename, so a reader
// never sees half a certificate or key.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := tmp.Chmod(perm); err != nil {
		_ = tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	}
	return false, err
}
