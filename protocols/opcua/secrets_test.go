package opcua

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wotchain/wotchain/protocols"
)

func writeFile(t *testing.T, path, content string, perm os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // WriteFile's perm is masked by the umask
		t.Fatal(err)
	}
	return path
}

func TestPasswordFile(t *testing.T) {
	dir := t.TempDir()
	cfg := validConfig()
	cfg.Username = "operator"

	cfg.PasswordFile = writeFile(t, filepath.Join(dir, "pw"), "s3cret\n", 0o600)
	cr, err := loadCredentials(&cfg)
	if err != nil || cr.username != "operator" || cr.password != "s3cret" {
		t.Fatalf("credentials = %+v, %v; want operator / s3cret (newline trimmed)", cr, err)
	}

	cfg.PasswordFile = writeFile(t, filepath.Join(dir, "open"), "s3cret", 0o644)
	if _, err := loadCredentials(&cfg); err == nil || !strings.Contains(err.Error(), "must not be accessible by group or others") {
		t.Fatalf("world-readable password file: err = %v", err)
	}

	cfg.PasswordFile = writeFile(t, filepath.Join(dir, "empty"), "\n", 0o600)
	if _, err := loadCredentials(&cfg); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty password file: err = %v", err)
	}

	cfg.PasswordFile = filepath.Join(dir, "missing")
	if _, err := loadCredentials(&cfg); err == nil || !strings.Contains(err.Error(), "password_file") {
		t.Fatalf("missing password file: err = %v", err)
	}
}

func TestPasswordEnv(t *testing.T) {
	cfg := validConfig()
	cfg.Username, cfg.PasswordEnv = "operator", "WOTCHAIN_TEST_OPCUA_PW"

	_, err := New(cfg, protocols.Options{DeviceID: "boiler-1"})
	if err == nil || !strings.Contains(err.Error(), "WOTCHAIN_TEST_OPCUA_PW is not set") || !strings.Contains(err.Error(), "boiler-1") {
		t.Fatalf("New with the variable unset: err = %v", err)
	}

	t.Setenv("WOTCHAIN_TEST_OPCUA_PW", "from-env")
	cr, err := loadCredentials(&cfg)
	if err != nil || cr.password != "from-env" {
		t.Fatalf("credentials = %+v, %v", cr, err)
	}
}

func TestUserCertificateFiles(t *testing.T) {
	dir := t.TempDir()
	p := pki{dir: dir, log: discard()}
	if _, _, err := p.ownCert("urn:test:user"); err != nil {
		t.Fatal(err)
	}
	other := pki{dir: t.TempDir(), log: discard()}
	if _, _, err := other.ownCert("urn:test:other"); err != nil {
		t.Fatal(err)
	}

	cfg := validConfig()
	cfg.UserCertFile, cfg.UserKeyFile = filepath.Join(dir, "own", "cert.pem"), filepath.Join(dir, "own", "key.pem")
	cr, err := loadCredentials(&cfg)
	if err != nil || cr.userCert == nil || cr.userKey == nil || cr.kind() != "certificate" {
		t.Fatalf("credentials = %+v, %v", cr, err)
	}

	cfg.UserKeyFile = filepath.Join(other.dir, "own", "key.pem")
	if _, err := loadCredentials(&cfg); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("mismatched key: err = %v", err)
	}
}
