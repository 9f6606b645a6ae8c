package coap

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wotchain/wotchain/internal/testserver"
)

// serverName is the DNS name in the device certificate (it also carries
// 127.0.0.1).
const serverName = "sensor.test"

// newTestPKI is a CA with a device (server) certificate for serverName and
// 127.0.0.1 and an appliance (client) certificate, generated per test.
func newTestPKI(t *testing.T) *testserver.PKI { return testserver.NewPKI(t, serverName) }

// writeSecret writes a key file with the given mode.
func writeSecret(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "coap.psk")
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // umask may have narrowed it
		t.Fatal(err)
	}
	return path
}
