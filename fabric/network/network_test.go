package network

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wotchain/wotchain/fabric/netdesc"
	"gopkg.in/yaml.v3"
)

var testOrgs = []orgSpec{
	{name: "manufacturer", mspID: ManufacturerMSP, domain: "manufacturer.wotchain.local", peerPort: 7051, chaincodePort: 7052, opsPort: 9443},
	{name: "partner", mspID: PartnerMSP, domain: "partner.wotchain.local", peerPort: 8051, chaincodePort: 8052, opsPort: 9444},
}

func TestConfigtxProfile(t *testing.T) {
	l := layout{dir: "/net"}
	data, err := configtx(l, testOrgs, 7050)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Profiles map[string]struct {
			Orderer struct {
				OrdererType  string `yaml:"OrdererType"`
				BatchTimeout string `yaml:"BatchTimeout"`
				EtcdRaft     struct {
					Consenters []struct {
						Host string `yaml:"Host"`
						Port int    `yaml:"Port"`
					} `yaml:"Consenters"`
					Options struct {
						TickInterval string `yaml:"TickInterval"`
					} `yaml:"Options"`
				} `yaml:"EtcdRaft"`
			} `yaml:"Orderer"`
			Application struct {
				Organizations []struct {
					ID          string `yaml:"ID"`
					AnchorPeers []struct {
						Port int `yaml:"Port"`
					} `yaml:"AnchorPeers"`
				} `yaml:"Organizations"`
			} `yaml:"Application"`
		} `yaml:"Profiles"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	p, ok := cfg.Profiles[channelProfile]
	if !ok {
		t.Fatalf("no profile %s in\n%s", channelProfile, data)
	}
	if p.Orderer.OrdererType != "etcdraft" || p.Orderer.BatchTimeout != "250ms" || p.Orderer.EtcdRaft.Options.TickInterval != "100ms" {
		t.Errorf("orderer %+v", p.Orderer)
	}
	if len(p.Orderer.EtcdRaft.Consenters) != 1 || p.Orderer.EtcdRaft.Consenters[0].Port != 7050 || p.Orderer.EtcdRaft.Consenters[0].Host != "127.0.0.1" {
		t.Errorf("consenters %+v", p.Orderer.EtcdRaft.Consenters)
	}
	orgs := p.Application.Organizations
	if len(orgs) != 2 || orgs[0].ID != ManufacturerMSP || orgs[1].ID != PartnerMSP || orgs[1].AnchorPeers[0].Port != 8051 {
		t.Errorf("application orgs %+v", orgs)
	}
}

func TestPeerConfigAdaptsSample(t *testing.T) {
	sample := t.TempDir()
	// The shape of Fabric's sample core.yaml, reduced to what we change.
	writeTestFile(t, filepath.Join(sample, "core.yaml"), `
peer:
  id: jdoe
  listenAddress: 0.0.0.0:7051
  gossip:
    bootstrap: 127.0.0.1:7051
  tls:
    enabled: false
vm:
  endpoint: unix:///var/run/docker.sock
chaincode:
  externalBuilders:
    - name: ccaas_builder
      path: /opt/hyperledger/ccaas_builder
ledger:
  history:
    enableHistoryDatabase: true
operations:
  listenAddress: 127.0.0.1:9443
`)
	l := layout{dir: "/net"}
	data, err := peerConfig(sample, l, testOrgs[1], "/net/builder")
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	get := func(path string) any {
		var v any = cfg
		for _, p := range strings.Split(path, ".") {
			v = v.(map[string]any)[p]
		}
		return v
	}
	for path, want := range map[string]any{
		"peer.id":                      "peer0.partner.wotchain.local",
		"peer.listenAddress":           "127.0.0.1:8051",
		"peer.chaincodeListenAddress":  "127.0.0.1:8052",
		"peer.gossip.externalEndpoint": "127.0.0.1:8051",
		"peer.tls.enabled":             true,
		"peer.localMspId":              PartnerMSP,
		"vm.endpoint":                  "",
		"operations.listenAddress":     "127.0.0.1:9444",
	} {
		if got := get(path); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	builders := get("chaincode.externalBuilders").([]any)
	if len(builders) != 1 || builders[0].(map[string]any)["path"] != "/net/builder" {
		t.Errorf("external builders %v", builders)
	}
}

func TestSetPathRefusesScalarSection(t *testing.T) {
	m := map[string]any{"peer": "scalar"}
	if err := setPath(m, "peer.id", "x"); err == nil {
		t.Fatal("setPath through a scalar succeeded")
	}
	if err := setPath(m, "new.section.key", 1); err != nil || m["new"].(map[string]any)["section"].(map[string]any)["key"] != 1 {
		t.Fatalf("setPath creating sections: %v %v", err, m)
	}
}

func TestChaincodePackage(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.tar.gz"), filepath.Join(dir, "b.tar.gz")
	for _, p := range []string{a, b} {
		if err := packageChaincode(p, "wotchain_1.0", "127.0.0.1:9999"); err != nil {
			t.Fatal(err)
		}
	}
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	if !bytes.Equal(da, db) {
		t.Fatal("packaging is not deterministic: the package id would change")
	}
	outer := untar(t, da)
	var meta map[string]string
	if err := json.Unmarshal(outer["metadata.json"], &meta); err != nil || meta["type"] != "ccaas" || meta["label"] != "wotchain_1.0" {
		t.Fatalf("metadata.json %s: %v", outer["metadata.json"], err)
	}
	var conn map[string]any
	if err := json.Unmarshal(untar(t, outer["code.tar.gz"])["connection.json"], &conn); err != nil || conn["address"] != "127.0.0.1:9999" {
		t.Fatalf("connection.json: %v %v", conn, err)
	}
}

func untar(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = b
	}
}

// TestProcessLifecycle starts detached processes the way Up does and stops
// them the way Down does, including one that ignores SIGTERM.
func TestProcessLifecycle(t *testing.T) {
	l := layout{dir: t.TempDir()}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := startProcess(l, "polite", exec.Command("sleep", "60"), true, log); err != nil {
		t.Fatal(err)
	}
	if err := startProcess(l, "stubborn", exec.Command("sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"), false, log); err != nil {
		t.Fatal(err)
	}
	procs, err := processes(l)
	if err != nil || len(procs) != 2 || !procs[0].Running || !procs[1].Running {
		t.Fatalf("processes %+v, %v", procs, err)
	}
	if err := clearStale(l); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("clearStale over a running network: %v", err)
	}
	time.Sleep(100 * time.Millisecond) // let sh install its trap
	start := time.Now()
	if err := stopProcesses(context.Background(), l, 500*time.Millisecond, log); err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if processRunning(l, p.Name) {
			t.Errorf("%s still running", p.Name)
		}
		if _, start, err := readPidFile(pidFile(l, p.Name)); err == nil {
			t.Errorf("%s pid file left (start %d)", p.Name, start)
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stopping took %s", d)
	}
}

func TestNetworkDescriptionRoundTrip(t *testing.T) {
	dir := t.TempDir()
	l := layout{dir: dir}
	n := describe(l, testOrgs, Ports{Orderer: 7050, OrdererOperations: 9440}, "wotchain", "wotchain", "wotchain_1.0:abc", "127.0.0.1:9999")
	if err := n.Save(); err != nil {
		t.Fatal(err)
	}
	got, err := netdesc.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	org, err := got.Org(PartnerMSP)
	if err != nil {
		t.Fatal(err)
	}
	u, err := org.User("User2")
	if err != nil || u.Admin || !strings.HasSuffix(u.CertFile, "User2@partner.wotchain.local-cert.pem") {
		t.Fatalf("user %+v, %v", u, err)
	}
	if admin, _ := org.User("Admin"); admin == nil || !admin.Admin {
		t.Fatalf("admin %+v", admin)
	}
	if org.Peer.Address != "127.0.0.1:8051" || got.Orderer.Address != "127.0.0.1:7050" {
		t.Fatalf("endpoints %+v %+v", org.Peer, got.Orderer)
	}
}

func writeTestFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
