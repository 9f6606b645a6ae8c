package testserver

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// The pymodbus peer runs on Debian's interpreter (python3-pymodbus); the
// python3 first on PATH may be another one that cannot import Debian's
// packages.
const systemPython = "/usr/bin/python3"

// StartPymodbus runs testdata/modbus/pymodbus_server.py, a Modbus server
// on pymodbus, with framer (socket or rtu) on a free port of 127.0.0.1 and
// returns host:port once it accepts connections. The server also exits by
// itself when its stdin closes or after 60s.
func StartPymodbus(t testing.TB, framer string) string {
	t.Helper()
	if _, err := os.Stat(systemPython); err != nil {
		MissingServer(t, "no %s for the pymodbus peer", systemPython)
	}
	if out, err := exec.Command(systemPython, "-c", "import pymodbus").CombinedOutput(); err != nil {
		MissingServer(t, "%s cannot import pymodbus (apt-get install python3-pymodbus): %v: %s", systemPython, err, out)
	}
	addr := FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	script := filepath.Join(RepoRoot(t), "testdata", "modbus", "pymodbus_server.py")
	p := Command(t, exec.Command(systemPython, script, port, "--framer", framer, "--timeout", "60"))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := p.AwaitTCP(ctx, addr); err != nil {
		t.Fatalf("pymodbus server: %v", err)
	}
	return addr
}
