package network

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/wotchain/wotchain/fabric/netdesc"
	"gopkg.in/yaml.v3"
)

// orgSpec is one peer organisation of the network.
type orgSpec struct {
	name, mspID, domain              string
	peerPort, chaincodePort, opsPort int
}

func (o orgSpec) peerHost() string { return "peer0." + o.domain }
func (o orgSpec) orgDir(l layout) string {
	return filepath.Join(l.crypto(), "peerOrganizations", o.domain)
}
func (o orgSpec) peerDir(l layout) string {
	return filepath.Join(o.orgDir(l), "peers", o.peerHost())
}
func (o orgSpec) userMSP(l layout, user string) string {
	return filepath.Join(o.orgDir(l), "users", user+"@"+o.domain, "msp")
}
func (o orgSpec) peerAddress() string { return loopback(o.peerPort) }

const (
	ordererDomain = "orderer.wotchain.local"
	ordererHost   = "orderer0." + ordererDomain
	clientUsers   = 2 // User1, User2 per organisation, besides Admin
)

// layout names the paths under the network directory.
type layout struct{ dir string }

func (l layout) crypto() string           { return filepath.Join(l.dir, "crypto") }
func (l layout) config(sub string) string { return filepath.Join(l.dir, "config", sub) }
func (l layout) data(sub string) string   { return filepath.Join(l.dir, "data", sub) }
func (l layout) logs() string             { return filepath.Join(l.dir, "logs") }
func (l layout) run() string              { return filepath.Join(l.dir, "run") }
func (l layout) genesisBlock() string     { return filepath.Join(l.dir, "channel", "genesis.block") }
func (l layout) chaincode() string        { return filepath.Join(l.dir, "chaincode") }
func (l layout) builder() string          { return filepath.Join(l.dir, "builder") }
func (l layout) bin() string              { return filepath.Join(l.dir, "bin") }
func (l layout) ordererOrgDir() string {
	return filepath.Join(l.crypto(), "ordererOrganizations", ordererDomain)
}
func (l layout) ordererDir() string {
	return filepath.Join(l.ordererOrgDir(), "orderers", ordererHost)
}

// generated lists the subdirectories Up creates; a new Up clears them.
func (l layout) generated() []string {
	return []string{l.crypto(), filepath.Join(l.dir, "config"), filepath.Join(l.dir, "data"), l.logs(), l.run(),
		filepath.Join(l.dir, "channel"), l.chaincode(), l.builder(), l.bin(), filepath.Join(l.dir, netdesc.File)}
}

func loopback(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// cryptoConfig is cryptogen's input: NodeOUs on, so certificates carry the
// admin/client/peer/orderer roles that policies and the contract check, and
// TLS certificates that also cover 127.0.0.1 and localhost.
func cryptoConfig(orgs []orgSpec) ([]byte, error) {
	sans := []string{"localhost", "127.0.0.1"}
	type spec struct {
		Hostname string   `yaml:"Hostname"`
		SANS     []string `yaml:"SANS"`
	}
	type template struct {
		Count int      `yaml:"Count"`
		SANS  []string `yaml:"SANS"`
	}
	type count struct {
		Count int `yaml:"Count"`
	}
	type org struct {
		Name          string    `yaml:"Name"`
		Domain        string    `yaml:"Domain"`
		EnableNodeOUs bool      `yaml:"EnableNodeOUs"`
		Specs         []spec    `yaml:"Specs,omitempty"`
		Template      *template `yaml:"Template,omitempty"`
		Users         *count    `yaml:"Users,omitempty"`
	}
	cfg := struct {
		OrdererOrgs []org `yaml:"OrdererOrgs"`
		PeerOrgs    []org `yaml:"PeerOrgs"`
	}{
		OrdererOrgs: []org{{Name: "Orderer", Domain: ordererDomain, EnableNodeOUs: true, Specs: []spec{{Hostname: "orderer0", SANS: sans}}}},
	}
	for _, o := range orgs {
		cfg.PeerOrgs = append(cfg.PeerOrgs, org{
			Name: o.mspID, Domain: o.domain, EnableNodeOUs: true,
			Template: &template{Count: 1, SANS: sans}, Users: &count{Count: clientUsers},
		})
	}
	return yaml.Marshal(cfg)
}

type policy struct {
	Type string `yaml:"Type"`
	Rule string `yaml:"Rule"`
}

func signature(rule string) policy { return policy{Type: "Signature", Rule: rule} }
func implicit(rule string) policy  { return policy{Type: "ImplicitMeta", Rule: rule} }

// configtx is configtxgen's input for the application channel's genesis
// block (there is no system channel). Raft runs with a 100 ms tick and
// blocks are cut after 250 ms: the sample's 2.5 s tick makes the first
// transactions of a fresh network fail as unavailable.
func configtx(l layout, orgs []orgSpec, ordererPort int) ([]byte, error) {
	type anchor struct {
		Host string `yaml:"Host"`
		Port int    `yaml:"Port"`
	}
	type org struct {
		Name             string            `yaml:"Name"`
		ID               string            `yaml:"ID"`
		MSPDir           string            `yaml:"MSPDir"`
		Policies         map[string]policy `yaml:"Policies"`
		OrdererEndpoints []string          `yaml:"OrdererEndpoints,omitempty"`
		AnchorPeers      []anchor          `yaml:"AnchorPeers,omitempty"`
	}
	ordererOrg := org{
		Name: OrdererMSP, ID: OrdererMSP, MSPDir: filepath.Join(l.ordererOrgDir(), "msp"),
		Policies: map[string]policy{
			"Readers": signature("OR('OrdererMSP.member')"),
			"Writers": signature("OR('OrdererMSP.member')"),
			"Admins":  signature("OR('OrdererMSP.admin')"),
		},
		OrdererEndpoints: []string{loopback(ordererPort)},
	}
	var appOrgs []org
	for _, o := range orgs {
		m := o.mspID
		appOrgs = append(appOrgs, org{
			Name: m, ID: m, MSPDir: filepath.Join(o.orgDir(l), "msp"),
			Policies: map[string]policy{
				"Readers":     signature(fmt.Sprintf("OR('%s.admin','%s.peer','%s.client')", m, m, m)),
				"Writers":     signature(fmt.Sprintf("OR('%s.admin','%s.client')", m, m)),
				"Admins":      signature(fmt.Sprintf("OR('%s.admin')", m)),
				"Endorsement": signature(fmt.Sprintf("OR('%s.peer')", m)),
			},
			AnchorPeers: []anchor{{Host: "127.0.0.1", Port: o.peerPort}},
		})
	}
	ordererTLS := filepath.Join(l.ordererDir(), "tls", "server.crt")
	profile := map[string]any{
		"Policies": map[string]policy{
			"Readers": implicit("ANY Readers"),
			"Writers": implicit("ANY Writers"),
			"Admins":  implicit("MAJORITY Admins"),
		},
		"Capabilities": map[string]bool{"V2_0": true},
		"Orderer": map[string]any{
			"OrdererType":  "etcdraft",
			"BatchTimeout": "250ms",
			"BatchSize": map[string]any{
				"MaxMessageCount": 50, "AbsoluteMaxBytes": "10 MB", "PreferredMaxBytes": "2 MB",
			},
			"EtcdRaft": map[string]any{
				"Consenters": []map[string]any{{
					"Host": "127.0.0.1", "Port": ordererPort, "ClientTLSCert": ordererTLS, "ServerTLSCert": ordererTLS,
				}},
				"Options": map[string]any{
					"TickInterval": "100ms", "ElectionTick": 10, "HeartbeatTick": 1,
					"MaxInflightBlocks": 5, "SnapshotIntervalSize": "16 MB",
				},
			},
			"Organizations": []org{ordererOrg},
			"Policies": map[string]policy{
				"Readers":         implicit("ANY Readers"),
				"Writers":         implicit("ANY Writers"),
				"Admins":          implicit("MAJORITY Admins"),
				"BlockValidation": implicit("ANY Writers"),
			},
			"Capabilities": map[string]bool{"V2_0": true},
		},
		"Application": map[string]any{
			"Organizations": appOrgs,
			"Policies": map[string]policy{
				"Readers":              implicit("ANY Readers"),
				"Writers":              implicit("ANY Writers"),
				"Admins":               implicit("MAJORITY Admins"),
				"LifecycleEndorsement": implicit("MAJORITY Endorsement"),
				"Endorsement":          implicit("MAJORITY Endorsement"),
			},
			"Capabilities": map[string]bool{"V2_5": true},
		},
	}
	return yaml.Marshal(map[string]any{"Profiles": map[string]any{channelProfile: profile}})
}

const channelProfile = "WoTChainChannel"

// ordererConfig adapts Fabric's sample orderer.yaml: TLS on, no system
// channel (channels are joined through the admin endpoint), everything on
// loopback and under the network directory.
func ordererConfig(sample string, l layout, port, adminPort, opsPort int) ([]byte, error) {
	cfg, err := loadYAML(filepath.Join(sample, "orderer.yaml"))
	if err != nil {
		return nil, err
	}
	tls := filepath.Join(l.ordererDir(), "tls")
	for path, v := range map[string]any{
		"General.ListenAddress":        "127.0.0.1",
		"General.ListenPort":           port,
		"General.TLS.Enabled":          true,
		"General.TLS.PrivateKey":       filepath.Join(tls, "server.key"),
		"General.TLS.Certificate":      filepath.Join(tls, "server.crt"),
		"General.TLS.RootCAs":          []string{filepath.Join(tls, "ca.crt")},
		"General.BootstrapMethod":      "none",
		"General.BootstrapFile":        "",
		"General.LocalMSPDir":          filepath.Join(l.ordererDir(), "msp"),
		"General.LocalMSPID":           OrdererMSP,
		"FileLedger.Location":          l.data("orderer"),
		"Consensus.WALDir":             filepath.Join(l.data("orderer"), "etcdraft", "wal"),
		"Consensus.SnapDir":            filepath.Join(l.data("orderer"), "etcdraft", "snapshot"),
		"Admin.ListenAddress":          loopback(adminPort),
		"Operations.ListenAddress":     loopback(opsPort),
		"ChannelParticipation.Enabled": true,
		"Metrics.Provider":             "disabled",
	} {
		if err := setPath(cfg, path, v); err != nil {
			return nil, fmt.Errorf("orderer.yaml: %w", err)
		}
	}
	return yaml.Marshal(cfg)
}

// peerConfig adapts Fabric's sample core.yaml for one peer: TLS on, no
// Docker (a blank vm.endpoint; otherwise the health check never turns OK),
// our external builder for chaincode as a service, gossip timings short
// enough that the two organisations find each other within seconds.
func peerConfig(sample string, l layout, o orgSpec, builderDir string) ([]byte, error) {
	cfg, err := loadYAML(filepath.Join(sample, "core.yaml"))
	if err != nil {
		return nil, err
	}
	tls := filepath.Join(o.peerDir(l), "tls")
	addr := o.peerAddress()
	data := l.data(o.peerHost())
	for path, v := range map[string]any{
		"peer.id":                               o.peerHost(),
		"peer.networkId":                        "wotchain",
		"peer.listenAddress":                    addr,
		"peer.address":                          addr,
		"peer.chaincodeListenAddress":           loopback(o.chaincodePort),
		"peer.chaincodeAddress":                 loopback(o.chaincodePort),
		"peer.gossip.bootstrap":                 addr,
		"peer.gossip.externalEndpoint":          addr,
		"peer.gossip.useLeaderElection":         false,
		"peer.gossip.orgLeader":                 true,
		"peer.gossip.aliveTimeInterval":         "1s",
		"peer.gossip.aliveExpirationTimeout":    "10s",
		"peer.gossip.reconnectInterval":         "2s",
		"peer.gossip.pullInterval":              "1s",
		"peer.gossip.requestStateInfoInterval":  "1s",
		"peer.gossip.publishStateInfoInterval":  "1s",
		"peer.gossip.membershipTrackerInterval": "1s",
		"peer.tls.enabled":                      true,
		"peer.tls.cert.file":                    filepath.Join(tls, "server.crt"),
		"peer.tls.key.file":                     filepath.Join(tls, "server.key"),
		"peer.tls.rootcert.file":                filepath.Join(tls, "ca.crt"),
		"peer.tls.clientRootCAs.files":          []string{filepath.Join(tls, "ca.crt")},
		"peer.fileSystemPath":                   data,
		"peer.mspConfigPath":                    filepath.Join(o.peerDir(l), "msp"),
		"peer.localMspId":                       o.mspID,
		"peer.gateway.enabled":                  true,
		"vm.endpoint":                           "",
		"chaincode.externalBuilders": []map[string]any{{
			"name": "wotchain-ccaas", "path": builderDir,
		}},
		"ledger.snapshots.rootDir":             filepath.Join(data, "snapshots"),
		"ledger.history.enableHistoryDatabase": true,
		"operations.listenAddress":             loopback(o.opsPort),
		"metrics.provider":                     "disabled",
	} {
		if err := setPath(cfg, path, v); err != nil {
			return nil, fmt.Errorf("core.yaml: %w", err)
		}
	}
	return yaml.Marshal(cfg)
}

func loadYAML(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read Fabric sample config: %w", err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return m, nil
}

// setPath sets a dotted key, creating intermediate maps.
func setPath(m map[string]any, path string, v any) error {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p]
		if !ok || next == nil {
			child := map[string]any{}
			m[p] = child
			m = child
			continue
		}
		child, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %s is not a section", path, p)
		}
		m = child
	}
	m[parts[len(parts)-1]] = v
	return nil
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
