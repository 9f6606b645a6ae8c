package testserver

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/internal/testserver/launch"
)

// Mosquitto is a running Eclipse Mosquitto broker (Debian package
// "mosquitto") with two listeners on 127.0.0.1:
//
//   - Addr: plain MQTT, anonymous access;
//   - TLSAddr: TLS with a test CA, a client certificate required, and, when
//     mosquitto_passwd is installed, username and password required.
//
// Persistence is on, so a Stop/Restart keeps persistent sessions and their
// queued messages, as a production broker would.
type Mosquitto struct {
	Addr    string // 127.0.0.1:port, plain
	TLSAddr string // 127.0.0.1:port, TLS (and auth)
	Dir     string

	CAFile         string // PEM CA that signed the server and client certificates
	ClientCertFile string // PEM client certificate accepted by TLSAddr
	ClientKeyFile  string // its key (mode 0600)

	// Username and Password are required on TLSAddr; empty when
	// mosquitto_passwd is not installed (TLSAddr then accepts any client
	// holding a certificate). PasswordFile holds Password (mode 0600) for
	// clients that read it from a file.
	Username     string
	Password     string
	PasswordFile string

	// ACLAddr, with StartMosquittoACL, is a plain listener that requires a
	// username and password (Users) and applies the ACL file ACLFile.
	ACLAddr string
	ACLFile string
	Users   map[string]string

	bin  string
	conf string
	pki  *PKI
	proc *launch.Proc
}

// mosquittoBinary finds the broker: WOTCHAIN_MOSQUITTO_BIN, PATH, or the
// Debian location (/usr/sbin is often not on a user's PATH).
func mosquittoBinary() (string, error) {
	if p := os.Getenv("WOTCHAIN_MOSQUITTO_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("WOTCHAIN_MOSQUITTO_BIN: %w", err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	const debian = "/usr/sbin/mosquitto"
	if _, err := os.Stat(debian); err != nil {
		return "", fmt.Errorf("mosquitto not on PATH and not at %s (apt-get install mosquitto)", debian)
	}
	return debian, nil
}

// StartMosquitto starts a broker with a fresh directory and waits until both
// listeners accept connections. It is killed when the test ends.
func StartMosquitto(t testing.TB) *Mosquitto {
	t.Helper()
	bin, err := mosquittoBinary()
	if err != nil {
		MissingServer(t, "%v", err)
	}
	m := &Mosquitto{
		Addr:    fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
		TLSAddr: fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
		Dir:     t.TempDir(),
		bin:     bin,
	}
	m.pki = NewPKI(t, "localhost")
	m.CAFile, m.ClientCertFile, m.ClientKeyFile = m.pki.CAFile, m.pki.ClientCertFile, m.pki.ClientKeyFile
	m.writePasswords(t)
	m.writeConfig(t)
	m.start(t)
	return m
}

// StartMosquittoACL starts a broker that also has ACLAddr: a plain
// listener where each of users (name: password) must log in and the
// mosquitto ACL file acl (its text) says what each may read and write.
// It skips when mosquitto_passwd is missing.
func StartMosquittoACL(t testing.TB, users map[string]string, acl string) *Mosquitto {
	t.Helper()
	tool, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		MissingServer(t, "mosquitto_passwd: %v", err)
	}
	bin, err := mosquittoBinary()
	if err != nil {
		MissingServer(t, "%v", err)
	}
	m := &Mosquitto{
		Addr:    fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
		TLSAddr: fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
		ACLAddr: fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
		Dir:     t.TempDir(),
		bin:     bin,
		Users:   users,
	}
	pw := filepath.Join(m.Dir, "acl-passwd")
	first := true
	for u, p := range users {
		args := []string{"-b", pw, u, p}
		if first {
			args = append([]string{"-c"}, args...)
			first = false
		}
		if out, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd: %v: %s", err, out)
		}
	}
	m.ACLFile = filepath.Join(m.Dir, "acl")
	if err := os.WriteFile(m.ACLFile, []byte(acl), 0o600); err != nil {
		t.Fatal(err)
	}
	m.pki = NewPKI(t, "localhost")
	m.CAFile, m.ClientCertFile, m.ClientKeyFile = m.pki.CAFile, m.pki.ClientCertFile, m.pki.ClientKeyFile
	m.writePasswords(t)
	m.writeConfig(t)
	m.start(t)
	return m
}

func (m *Mosquitto) start(t testing.TB) {
	t.Helper()
	m.proc = Command(t, exec.Command(m.bin, "-c", m.conf))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	addrs := []string{m.Addr, m.TLSAddr}
	if m.ACLAddr != "" {
		addrs = append(addrs, m.ACLAddr)
	}
	for _, addr := range addrs {
		if err := m.proc.AwaitTCP(ctx, addr); err != nil {
			t.Fatalf("mosquitto start-up: %v\n%s", err, m.proc.Output())
		}
	}
}

// Stop shuts the broker down the way an operator would (SIGTERM): clients
// are disconnected and persistent sessions are saved. It falls back to
// SIGKILL after 10 s.
func (m *Mosquitto) Stop(t testing.TB) {
	t.Helper()
	if !m.proc.Terminate(10 * time.Second) {
		t.Logf("mosquitto ignored SIGTERM for 10s; killed it")
	}
}

// Kill kills the broker (a crash): what it had not saved is lost.
func (m *Mosquitto) Kill(t testing.TB) {
	t.Helper()
	m.proc.Kill()
}

// Restart starts the broker again on the same addresses, configuration and
// persistence directory.
func (m *Mosquitto) Restart(t testing.TB) {
	t.Helper()
	m.start(t)
}

// Output is what the broker logged so far (since its last start).
func (m *Mosquitto) Output() string { return m.proc.Output() }

func (m *Mosquitto) writeConfig(t testing.TB) {
	t.Helper()
	_, plainPort, _ := net.SplitHostPort(m.Addr)
	_, tlsPort, _ := net.SplitHostPort(m.TLSAddr)
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("per_listener_settings true")
	// As root, mosquitto would switch to the "mosquitto" user, which cannot
	// read the test's 0700 temporary directory.
	w("user %s", currentUser())
	w("persistence true")
	w("persistence_location %s/", m.Dir)
	// An offline persistent session queues everything (the default keeps
	// only 1000 messages, which a broker-outage test can exceed).
	w("max_queued_messages 0")
	w("log_dest stderr")
	w("log_type error")
	w("log_type warning")
	w("log_type notice")
	w("log_type information")
	w("")
	w("listener %s 127.0.0.1", plainPort)
	w("allow_anonymous true")
	w("")
	w("listener %s 127.0.0.1", tlsPort)
	w("cafile %s", m.CAFile)
	w("certfile %s", m.pki.ServerCertFile)
	w("keyfile %s", m.pki.ServerKeyFile)
	w("require_certificate true")
	if m.Username != "" {
		w("allow_anonymous false")
		w("password_file %s", filepath.Join(m.Dir, "passwd"))
	} else {
		w("allow_anonymous true")
	}
	if m.ACLAddr != "" {
		_, aclPort, _ := net.SplitHostPort(m.ACLAddr)
		w("")
		w("listener %s 127.0.0.1", aclPort)
		w("allow_anonymous false")
		w("password_file %s", filepath.Join(m.Dir, "acl-passwd"))
		w("acl_file %s", m.ACLFile)
	}
	m.conf = filepath.Join(m.Dir, "mosquitto.conf")
	if err := os.WriteFile(m.conf, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func currentUser() string {
	if os.Geteuid() == 0 {
		return "root"
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "nobody" // ignored by mosquitto when not run as root
}

// writePasswords creates the broker's password file with mosquitto_passwd
// (its hash format is mosquitto's own), if the tool is installed.
func (m *Mosquitto) writePasswords(t testing.TB) {
	t.Helper()
	tool, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Logf("mosquitto_passwd not installed: the TLS listener accepts clients without a password")
		return
	}
	m.Username, m.Password = "wotchain-test", "s3cret-"+randomHex(t, 8)
	out, err := exec.Command(tool, "-b", "-c", filepath.Join(m.Dir, "passwd"), m.Username, m.Password).CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_passwd: %v: %s", err, out)
	}
	m.PasswordFile = filepath.Join(m.Dir, "client.password")
	if err := os.WriteFile(m.PasswordFile, []byte(m.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", b)
}
