package coapsim

import (
	"crypto/tls"
	"crypto/x509"
	"errors"

	piondtls "github.com/pion/dtls/v3"
)

// Option changes how the simulator listens.
type Option func(*settings)

type settings struct {
	dtls []piondtls.ServerOption // nil: plain UDP
}

// WithPSK serves DTLS with a pre-shared key (coaps://). Only a client that
// presents identity and knows key completes the handshake.
func WithPSK(identity string, key []byte) Option {
	return func(s *settings) {
		s.dtls = []piondtls.ServerOption{
			piondtls.WithPSKIdentityHint([]byte("coapsim")),
			piondtls.WithPSK(func(id []byte) ([]byte, error) {
				if string(id) != identity {
					return nil, errors.New("coapsim: unknown PSK identity")
				}
				return key, nil
			}),
			// pion's default list has no PSK suite; these are what CoAP
			// clients offer (CCM_8 is mandatory in RFC 7252).
			piondtls.WithCipherSuites(piondtls.TLS_PSK_WITH_AES_128_GCM_SHA256, piondtls.TLS_PSK_WITH_AES_128_CCM_8),
		}
	}
}

// WithCertificate serves DTLS with a certificate (coaps://). When clientCAs
// is not nil, clients must present a certificate signed by one of them.
func WithCertificate(cert tls.Certificate, clientCAs *x509.CertPool) Option {
	return func(s *settings) {
		s.dtls = []piondtls.ServerOption{piondtls.WithCertificates(cert)}
		if clientCAs != nil {
			s.dtls = append(s.dtls,
				piondtls.WithClientAuth(piondtls.RequireAndVerifyClientCert),
				piondtls.WithClientCAs(clientCAs))
		}
	}
}
