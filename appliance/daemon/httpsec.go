package daemon

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/appliance/httpauth"
	"github.com/wotchain/wotchain/appliance/httptls"
)

// httpSec is what the HTTP interface's security needs from the
// configuration.
type httpSec struct {
	auth  httpauth.Config
	tls   *tls.Config
	close func()
}

// httpSecurity opens the HTTP interface's certificate (made on the first
// start with tls.auto) and, with http.auth, the users file and the audit
// log. A certificate or users file that cannot be used stops the start:
// the appliance never falls back to serving less securely.
func httpSecurity(cfg *config.Config, log *slog.Logger) (httpSec, error) {
	sec := httpSec{close: func() {}}
	if !*cfg.HTTP.Enabled {
		return sec, nil
	}
	if cfg.HTTP.TLS != nil {
		c, err := httpCertificate(cfg)
		if err != nil {
			return sec, err
		}
		log.Info("http certificate", "fingerprint_sha256", c.Fingerprint, "not_after", c.NotAfter, "created", c.Created)
		sec.tls = c.TLS
	}
	a := cfg.HTTP.Auth
	if a == nil {
		return sec, nil
	}
	users, err := httpauth.OpenUsers(cfg.Resolve(a.UsersFile))
	if err != nil {
		return sec, fmt.Errorf("http.auth: %w", err)
	}
	if users.Count() == 0 {
		log.Warn("http.auth is on but there are no users yet: add one with `wotchain user add`", "users_file", users.Path())
	}
	audit, err := httpauth.OpenAudit(cfg.Resolve(a.AuditLog))
	if err != nil {
		return sec, fmt.Errorf("http.auth: %w", err)
	}
	sec.auth = httpauth.Config{Users: users, Audit: audit, SessionTTL: a.SessionTTL.D()}
	sec.close = func() { audit.Close() }
	return sec, nil
}

// httpCertificate loads the configured certificate or the self-signed one
// in the data directory's keys.
func httpCertificate(cfg *config.Config) (*httptls.Certificate, error) {
	t := cfg.HTTP.TLS
	if !t.Auto {
		return httptls.Load(cfg.Resolve(t.CertFile), cfg.Resolve(t.KeyFile))
	}
	host, _, _ := net.SplitHostPort(cfg.HTTP.Listen)
	return httptls.SelfSigned(cfg.Resolve(filepath.Join(cfg.Appliance.DataDir, "keys")), httptls.Hosts(host))
}

// CheckHTTP checks what `wotchain check` can of the HTTP interface beyond
// the configuration's syntax: a configured certificate loads and the users
// file is sound. It describes the interface.
func CheckHTTP(cfg *config.Config) (string, error) {
	if !*cfg.HTTP.Enabled {
		return "http off", nil
	}
	scheme := "http"
	if t := cfg.HTTP.TLS; t != nil {
		scheme = "https"
		if !t.Auto {
			if _, err := httpCertificate(cfg); err != nil {
				return "", err
			}
		}
	}
	desc := fmt.Sprintf("%s://%s/", scheme, cfg.HTTP.Listen)
	if cfg.HTTP.Auth == nil {
		return desc + " without authentication", nil
	}
	users, err := httpauth.ReadUsers(cfg.UsersFile())
	if err != nil {
		return "", fmt.Errorf("http.auth: %w", err)
	}
	return fmt.Sprintf("%s with %d users", desc, len(users)), nil
}
