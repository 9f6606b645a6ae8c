package opcua

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/wotchain/wotchain/internal/secret"
)

// credentials are the user identity a session activates with, read once by
// New so a missing file or variable shows at start-up.
type credentials struct {
	username string
	password string
	userCert []byte // DER
	userKey  *rsa.PrivateKey
}

func (c credentials) kind() string {
	switch {
	case c.username != "":
		return "user name"
	case c.userCert != nil:
		return "certificate"
	}
	return "anonymous"
}

func loadCredentials(cfg *Config) (credentials, error) {
	var cr credentials
	if cfg.Username != "" {
		pw, err := readPassword(cfg)
		if err != nil {
			return credentials{}, err
		}
		cr.username, cr.password = cfg.Username, pw
	}
	if cfg.UserCertFile != "" {
		der, err := readCertFile(cfg.UserCertFile)
		if err != nil {
			return credentials{}, fmt.Errorf("user_cert_file: %w", err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return credentials{}, fmt.Errorf("user_cert_file %s: %w", cfg.UserCertFile, err)
		}
		key, err := readRSAKey(cfg.UserKeyFile)
		if err != nil {
			return credentials{}, fmt.Errorf("user_key_file: %w", err)
		}
		if !key.PublicKey.Equal(cert.PublicKey) {
			return credentials{}, fmt.Errorf("user_key_file %s does not match user_cert_file %s", cfg.UserKeyFile, cfg.UserCertFile)
		}
		cr.userCert, cr.userKey = der, key
	}
	return cr, nil
}

func readPassword(cfg *Config) (string, error) {
	if cfg.PasswordEnv != "" {
		return secret.Value("password_env", cfg.PasswordEnv, "")
	}
	return secret.Value("password_file", "", cfg.PasswordFile)
}

// readPrivateFile reads a secret, refusing a file that group or others can
// read, as the appliance does for its own keys.
func readPrivateFile(path string) ([]byte, error) { return secret.ReadFile(path) }

// readCertFile reads one certificate, PEM or DER, and returns its DER.
func readCertFile(path string) ([]byte, error) {
	ders, err := readCertFiles(path)
	if err != nil {
		return nil, err
	}
	return ders[0], nil
}

// readCertFiles reads every certificate of a PEM file, or the one of a DER
// file.
func readCertFiles(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(string(b), "-----BEGIN") {
		return [][]byte{b}, nil
	}
	var ders [][]byte
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type == "CERTIFICATE" {
			ders = append(ders, block.Bytes)
		}
	}
	if len(ders) == 0 {
		return nil, fmt.Errorf("%s: no CERTIFICATE block", path)
	}
	return ders, nil
}

// readRSAKey reads a PEM RSA private key in PKCS #1 or PKCS #8 form.
func readRSAKey(path string) (*rsa.PrivateKey, error) {
	b, err := readPrivateFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: not an RSA private key: %w", path, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: %T key, OPC UA needs RSA", path, k)
	}
	return rk, nil
}

func parseURI(s string) ([]*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("application URI %q: %w", s, err)
	}
	if u.Scheme == "" {
		return nil, errors.New("application URI " + s + " has no scheme")
	}
	return []*url.URL{u}, nil
}
