package network

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wotchain/wotchain/fabric/netdesc"
)

// fakeNetwork records the processes Up starts (sleeping stand-ins), their
// operations endpoints (one server whose health the test sets) and a
// listening chaincode server, and saves the description, as a finished
// Up leaves them.
type fakeNetwork struct {
	l       layout
	desc    *netdesc.Network
	healthy atomic.Bool
}

func newFakeNetwork(t *testing.T) *fakeNetwork {
	t.Helper()
	f := &fakeNetwork{l: layout{dir: t.TempDir()}}
	f.healthy.Store(true)
	ops := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || !f.healthy.Load() {
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(ops.Close)
	cc, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	opsAddr := strings.TrimPrefix(ops.URL, "http://")
	f.desc = &netdesc.Network{Dir: f.l.dir, Channel: DefaultChannel, Chaincode: DefaultChaincode, ChaincodeAddress: cc.Addr().String(),
		Orderer: netdesc.Node{OperationsAddress: opsAddr}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	names := []string{"orderer", "chaincode"}
	for _, o := range orgSpecs(Ports{}) {
		names = append(names, o.peerHost())
		f.desc.Orgs = append(f.desc.Orgs, netdesc.Org{Name: o.name, MSPID: o.mspID, Peer: netdesc.Node{ServerName: o.peerHost(), OperationsAddress: opsAddr}})
	}
	for _, name := range names {
		if err := startProcess(f.l, name, exec.Command("sleep", "60"), true, quiet); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = stopProcesses(context.Background(), f.l, time.Second, quiet) })
	if err := f.desc.Save(); err != nil {
		t.Fatal(err)
	}
	return f
}

// up runs Up over the fake network with Reuse and no Fabric binaries (Up
// must not get as far as needing them) and returns what it logged.
func (f *fakeNetwork) up(t *testing.T, reuse bool) (*netdesc.Network, string, error) {
	t.Helper()
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	desc, err := Up(ctx, Options{Dir: f.l.dir, Reuse: reuse, Binaries: &Binaries{Dir: "/nonexistent"}, ChaincodeBinary: "/nonexistent",
		Log: slog.New(slog.NewTextHandler(&log, nil))})
	return desc, log.String(), err
}

// `fabricnet up` over a healthy network it started before reuses it and
// says so; without Reuse, Up refuses as before. A network that is partly
// stopped or unhealthy is not reused, and left running.
func TestUpReusesRunningNetwork(t *testing.T) {
	f := newFakeNetwork(t)
	desc, log, err := f.up(t, true)
	if err != nil {
		t.Fatalf("reuse: %v\n%s", err, log)
	}
	if desc.ChaincodeAddress != f.desc.ChaincodeAddress || desc.Dir != f.l.dir || !strings.Contains(log, "reusing it") {
		t.Fatalf("reused %+v, logged %s", desc, log)
	}
	if _, _, err := f.up(t, false); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("without Reuse: %v", err)
	}

	f.healthy.Store(false)
	if _, _, err := f.up(t, true); err == nil || !strings.Contains(err.Error(), "not healthy") {
		t.Fatalf("unhealthy network: %v", err)
	}
	f.healthy.Store(true)

	if err := stopProcesses(context.Background(), layout{dir: f.l.dir}, time.Second, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if err := startProcess(f.l, "orderer", exec.Command("sleep", "60"), true, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if err := startProcess(f.l, "chaincode", exec.Command("sleep", "60"), true, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	pid, _, err := readPidFile(pidFile(f.l, "chaincode"))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Second); processRunning(f.l, "chaincode"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the killed chaincode stand-in still runs")
		}
	}
	_, _, err = f.up(t, true)
	if err == nil || !strings.Contains(err.Error(), "only partly running") {
		t.Fatalf("partly running network: %v", err)
	}
	if !processRunning(f.l, "orderer") {
		t.Fatal("a refused reuse stopped the running orderer")
	}
}
