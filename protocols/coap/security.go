package coap

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	piondtls "github.com/pion/dtls/v3"

	"github.com/wotchain/wotchain/internal/secret"
)

// dtlsOptions loads the DTLS credentials the configuration names. It runs
// once, in New, so a missing or unreadable key stops the device at start-up
// rather than failing every poll. Error messages name files and variables,
// never key material.
func (c *Config) dtlsOptions() ([]piondtls.ClientOption, error) {
	if c.usesPSK() {
		key, err := c.loadPSK()
		if err != nil {
			return nil, err
		}
		identity := []byte(c.PSKIdentity)
		return []piondtls.ClientOption{
			// pion names the client's identity "identity hint".
			piondtls.WithPSKIdentityHint(identity),
			piondtls.WithPSK(func([]byte) ([]byte, error) { return key, nil }),
			piondtls.WithCipherSuites(pskCipherSuites()...),
		}, nil
	}
	roots, err := loadCAs(c.CAFile)
	if err != nil {
		return nil, err
	}
	name := c.ServerName
	if name == "" {
		name = c.host()
	}
	opts := []piondtls.ClientOption{piondtls.WithRootCAs(roots), piondtls.WithServerName(name)}
	if c.CertFile != "" {
		if err := checkPrivateFile(c.KeyFile); err != nil {
			return nil, fmt.Errorf("key_file: %w", err)
		}
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file/key_file: %w", err)
		}
		opts = append(opts, piondtls.WithCertificates(cert))
	}
	return opts, nil
}

// pskCipherSuites are offered with a pre-shared key: pion's default list
// has no PSK suite. Forward secrecy first, then AEAD suites, ending with
// TLS_PSK_WITH_AES_128_CCM_8, the one RFC 7252 §9.1.3.1 makes mandatory.
func pskCipherSuites() []piondtls.CipherSuiteID {
	return []piondtls.CipherSuiteID{
		piondtls.TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256,
		piondtls.TLS_PSK_WITH_AES_128_GCM_SHA256,
		piondtls.TLS_PSK_WITH_CHACHA20_POLY1305_SHA256,
		piondtls.TLS_PSK_WITH_AES_128_CCM,
		piondtls.TLS_PSK_WITH_AES_128_CCM_8,
	}
}

// loadPSK reads the pre-shared key from its file or environment variable.
func (c *Config) loadPSK() ([]byte, error) {
	var raw []byte
	source := ""
	if c.PSKKeyFile != "" {
		source = "psk_key_file " + c.PSKKeyFile
		if err := checkPrivateFile(c.PSKKeyFile); err != nil {
			return nil, fmt.Errorf("psk_key_file: %w", err)
		}
		b, err := os.ReadFile(c.PSKKeyFile)
		if err != nil {
			return nil, fmt.Errorf("psk_key_file: %w", err)
		}
		// Editors end files with a newline that is not part of the key.
		raw = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
	} else {
		source = "psk_key_env " + c.PSKKeyEnv
		v, ok := os.LookupEnv(c.PSKKeyEnv)
		if !ok {
			return nil, fmt.Errorf("psk_key_env: environment variable %s is not set", c.PSKKeyEnv)
		}
		raw = []byte(v)
	}
	key, err := decodeKey(raw, c.pskKeyEncoding())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("%s: the key is empty", source)
	}
	return key, nil
}

func decodeKey(raw []byte, enc string) ([]byte, error) {
	s := string(bytes.TrimSpace(raw))
	switch enc {
	case EncodingHex:
		k, err := hex.DecodeString(s)
		if err != nil {
			return nil, errors.New("the key is not hexadecimal (psk_key_encoding: hex)")
		}
		return k, nil
	case EncodingBase64:
		k, err := decodeBase64(s)
		if err != nil {
			return nil, errors.New("the key is not base64 (psk_key_encoding: base64)")
		}
		return k, nil
	}
	return raw, nil
}

// loadCAs reads a PEM bundle of CA certificates.
func loadCAs(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s: no PEM certificate found", path)
	}
	return pool, nil
}

// checkPrivateFile refuses a secret that group or others can access, as
// the appliance does for its own keys.
func checkPrivateFile(path string) error { return secret.Check(path) }
