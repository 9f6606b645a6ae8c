package opcua_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// nodeServer is the node-opcua server of testdata/opcua-server, a
// third-party OPC UA implementation to test against.
type nodeServer struct {
	endpoint string
	user     string
	password string
}

// The node-opcua server's known address space (see its server.js).
const (
	nodeNamespace = "urn:wotchain:test-server"
	nodeUser      = "user1"
	nodePassword  = "password1"
)

func nodeID(name string) string { return "nsu=" + nodeNamespace + ";s=Plant." + name }

// skipOrFail skips a test whose third-party peer is not installed, except
// in CI, where scripts/install-deps installs it and a skip would hide a
// broken setup.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// startNodeServer runs server.js on a free loopback port with a fresh PKI
// directory. The server exits when its stdin closes: at cleanup, or when
// the test process dies (the kernel closes the pipe).
func startNodeServer(t *testing.T) *nodeServer {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		skipOrFail(t, "node-opcua test server: node is not installed (%v)", err)
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "testdata", "opcua-server"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "node-opcua", "package.json")); err != nil {
		skipOrFail(t, "node-opcua test server: node_modules missing; run scripts/install-deps (npm ci in testdata/opcua-server): %v", err)
	}

	// The port is picked by the kernel and handed over; another process
	// could take it in between, hence the retries.
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		srv, err := runNodeServer(t, node, dir, port)
		if err == nil {
			return srv
		}
		lastErr = err
	}
	t.Fatalf("node-opcua test server did not start: %v", lastErr)
	return nil
}

func runNodeServer(t *testing.T, node, dir string, port int) (*nodeServer, error) {
	cmd := exec.Command(node, "server.js", "--port", strconv.Itoa(port), "--pki", t.TempDir(),
		"--user", nodeUser, "--password", nodePassword)
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if ep, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				ready <- ep
			}
		}
		exited <- cmd.Wait()
	}()
	stop := func() {
		_ = stdin.Close()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}

	select {
	case ep := <-ready:
		t.Cleanup(func() {
			stop()
			if t.Failed() {
				t.Logf("node-opcua server stderr:\n%s", stderr.String())
			}
		})
		if want := fmt.Sprintf("opc.tcp://127.0.0.1:%d", port); ep != want {
			stop()
			return nil, fmt.Errorf("server advertises %s, want %s", ep, want)
		}
		return &nodeServer{endpoint: ep, user: nodeUser, password: nodePassword}, nil
	case err := <-exited:
		return nil, fmt.Errorf("server exited (%v): %s", err, stderr.String())
	case <-time.After(45 * time.Second):
		stop()
		return nil, fmt.Errorf("server not ready after 45 s: %s", stderr.String())
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer collects a child's stderr while the test may read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
