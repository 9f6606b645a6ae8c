package testserver

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/wotchain/wotchain/internal/testserver/launch"
)

// NodeOPCUA is the node-opcua server of testdata/opcua-server, a
// third-party OPC UA implementation to test against. Its address space is
// described in its server.js.
type NodeOPCUA struct {
	Endpoint string // opc.tcp://127.0.0.1:port
	User     string // a user it accepts, with Password
	Password string
}

// readyLine is what server.js prints once it serves: "READY <endpoint>".
var readyLine = regexp.MustCompile(`(?m)^READY (\S+)\n`)

// StartNodeOPCUA runs server.js on a free loopback port with a fresh PKI
// directory and waits until it serves.
func StartNodeOPCUA(t testing.TB) *NodeOPCUA {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		MissingServer(t, "node-opcua test server: node is not installed (%v)", err)
	}
	dir := filepath.Join(RepoRoot(t), "testdata", "opcua-server")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "node-opcua", "package.json")); err != nil {
		MissingServer(t, "node-opcua test server: node_modules missing; run scripts/install-deps (npm ci in testdata/opcua-server): %v", err)
	}
	srv := &NodeOPCUA{User: "user1", Password: "password1"}
	// The port is picked by the kernel and handed over; another process
	// could take it in between, hence the retries.
	var lastErr error
	for range 3 {
		port := FreePort(t)
		cmd := exec.Command(node, "server.js", "--port", strconv.Itoa(port), "--pki", t.TempDir(),
			"--user", srv.User, "--password", srv.Password)
		cmd.Dir = dir
		p := Command(t, cmd)
		if srv.Endpoint, lastErr = awaitNodeOPCUA(p, port); lastErr == nil {
			return srv
		}
		p.Kill()
	}
	t.Fatalf("node-opcua test server did not start: %v", lastErr)
	return nil
}

// awaitNodeOPCUA waits for the server's READY line and checks the endpoint
// it advertises.
func awaitNodeOPCUA(p *launch.Proc, port int) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	var m []string
	err := p.Await(ctx, 20*time.Millisecond, "READY line", func() bool {
		m = readyLine.FindStringSubmatch(p.Output())
		return m != nil
	})
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, p.Output())
	}
	if want := fmt.Sprintf("opc.tcp://127.0.0.1:%d", port); m[1] != want {
		return "", fmt.Errorf("server advertises %s, want %s", m[1], want)
	}
	return m[1], nil
}
