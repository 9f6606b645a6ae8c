package config

import (
	"net"
	"path/filepath"
)

// HTTP is the operators' API, metrics and status page. Without tls and
// auth it may only listen on loopback.
type HTTP struct {
	Enabled *bool     `yaml:"enabled"` // default true
	Listen  string    `yaml:"listen"`  // default 127.0.0.1:8080
	TLS     *HTTPTLS  `yaml:"tls"`     // absent: plain HTTP
	Auth    *HTTPAuth `yaml:"auth"`    // absent: no authentication
}

// HTTPTLS serves HTTPS with a configured certificate, or with a
// self-signed one made on the first start (auto).
type HTTPTLS struct {
	// Auto makes a self-signed certificate (ECDSA P-256) in
	// <data_dir>/keys/http.crt and http.key on the first start.
	Auto     bool   `yaml:"auto"`
	CertFile string `yaml:"cert_file"` // PEM certificate (chain)
	KeyFile  string `yaml:"key_file"`  // PEM private key
}

// HTTPAuth turns authentication on: local users and API tokens from the
// users file (managed with `wotchain user`), sessions and an audit log.
type HTTPAuth struct {
	UsersFile  string   `yaml:"users_file"`  // default <data_dir>/http/users
	AuditLog   string   `yaml:"audit_log"`   // default <data_dir>/http/audit.jsonl
	SessionTTL Duration `yaml:"session_ttl"` // how long a login lasts; default 8h
}

func (h *HTTP) applyDefaults(dataDir string) {
	if h.Enabled == nil {
		on := true
		h.Enabled = &on
	}
	if h.Listen == "" {
		h.Listen = "127.0.0.1:8080"
	}
	if a := h.Auth; a != nil {
		if a.UsersFile == "" && dataDir != "" {
			a.UsersFile = filepath.Join(dataDir, "http", "users")
		}
		if a.AuditLog == "" && dataDir != "" {
			a.AuditLog = filepath.Join(dataDir, "http", "audit.jsonl")
		}
		if a.SessionTTL == 0 {
			a.SessionTTL = Duration(8 * 3600e9)
		}
	}
}

// UsersFile is the users file `wotchain user` edits: http.auth's, or its
// default while authentication is still off.
func (c *Config) UsersFile() string {
	if c.HTTP.Auth != nil && c.HTTP.Auth.UsersFile != "" {
		return c.Resolve(c.HTTP.Auth.UsersFile)
	}
	return c.Resolve(filepath.Join(c.Appliance.DataDir, "http", "users"))
}

func (h *HTTP) validate(errs *fieldErrors) {
	host, _, err := net.SplitHostPort(h.Listen)
	if err != nil {
		errs.add("http.listen", "%v (want host:port)", err)
		return
	}
	if t := h.TLS; t != nil {
		switch {
		case t.Auto && (t.CertFile != "" || t.KeyFile != ""):
			errs.add("http.tls", "give auto: true or cert_file and key_file, not both")
		case !t.Auto && (t.CertFile == "" || t.KeyFile == ""):
			errs.add("http.tls", "give auto: true (a self-signed certificate), or cert_file and key_file")
		}
	}
	if a := h.Auth; a != nil && a.SessionTTL.D() < 60e9 {
		errs.add("http.auth.session_ttl", "must be at least 1m")
	}
	if !*h.Enabled || loopback(host) {
		return
	}
	var missing string
	switch {
	case h.TLS == nil && h.Auth == nil:
		missing = "http.tls and http.auth"
	case h.TLS == nil:
		missing = "http.tls"
	case h.Auth == nil:
		missing = "http.auth"
	default:
		return
	}
	errs.add("http.listen", "%q is not a loopback address: readings would be open to the network; serving beyond loopback needs %s (README \"HTTPS and users\"), or listen on 127.0.0.1", h.Listen, missing)
}

// loopback says whether a listen host reaches only this machine.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
