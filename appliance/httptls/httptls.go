// Package httptls gives the HTTP interface its certificate: a configured
// certificate and key, or a self-signed one made on the first start and
// kept in the data directory's keys.
package httptls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wotchain/wotchain/internal/durable"
)

// Certificate is the server's certificate and what to tell operators.
type Certificate struct {
	TLS         *tls.Config
	Fingerprint string // SHA-256 of the certificate, colon-separated hex
	NotAfter    time.Time
	Created     bool // made now (self-signed, first start)
}

// Load reads a PEM certificate (chain) and its key.
func Load(certFile, keyFile string) (*Certificate, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("http tls: %s and %s: %w", certFile, keyFile, err)
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("http tls: %s: %w", certFile, err)
		}
	}
	return &Certificate{
		TLS:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}},
		Fingerprint: Fingerprint(leaf.Raw),
		NotAfter:    leaf.NotAfter,
	}, nil
}

// SelfSignedFiles are where SelfSigned keeps its certificate and key.
func SelfSignedFiles(keysDir string) (certFile, keyFile string) {
	return filepath.Join(keysDir, "http.crt"), filepath.Join(keysDir, "http.key")
}

// SelfSigned loads the self-signed certificate in keysDir, making it first
// if there is none: an ECDSA P-256 key (0600) and a certificate for hosts
// (names or IP addresses) valid for ten years. Operators pin its
// fingerprint; nothing else vouches for it.
func SelfSigned(keysDir string, hosts []string) (*Certificate, error) {
	certFile, keyFile := SelfSignedFiles(keysDir)
	_, errC := os.Stat(certFile)
	_, errK := os.Stat(keyFile)
	created := false
	switch {
	case errC == nil && errK == nil:
	case errors.Is(errC, os.ErrNotExist) && errors.Is(errK, os.ErrNotExist):
		if err := generate(certFile, keyFile, hosts, time.Now()); err != nil {
			return nil, fmt.Errorf("http tls: make a self-signed certificate in %s: %w", keysDir, err)
		}
		created = true
	default:
		return nil, fmt.Errorf("http tls: %s and %s must both exist or both be absent (remove the other to make a new pair)", certFile, keyFile)
	}
	if err := privateFile(keyFile); err != nil {
		return nil, err
	}
	c, err := Load(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	c.Created = created
	return c, nil
}

func privateFile(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("http tls: %s: mode %#o lets others read the key; chmod 600 %s", path, perm, path)
	}
	return nil
}

func generate(certFile, keyFile string, hosts []string, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "wotchain appliance", Organization: []string{"WoTChain"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(keyFile), 0o700); err != nil {
		return err
	}
	// The key first: a crash between the two leaves a key without a
	// certificate, which SelfSigned refuses rather than pairing wrongly.
	if err := durable.WriteNew(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		return err
	}
	return durable.WriteNew(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// Fingerprint is the SHA-256 of a DER certificate as browsers show it.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = strings.ToUpper(hex.EncodeToString([]byte{b}))
	}
	return strings.Join(parts, ":")
}

// Hosts are the names the self-signed certificate is made for: the listen
// host (unless it is every address), localhost, loopback, the machine's
// name and its interfaces' addresses at first start.
func Hosts(listenHost string) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if ip := net.ParseIP(listenHost); listenHost != "" && (ip == nil || !ip.IsUnspecified()) {
		hosts = append(hosts, listenHost)
	}
	if name, err := os.Hostname(); err == nil {
		hosts = append(hosts, name)
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
				hosts = append(hosts, n.IP.String())
			}
		}
	}
	seen := map[string]bool{}
	out := hosts[:0]
	for _, h := range hosts {
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out
}
