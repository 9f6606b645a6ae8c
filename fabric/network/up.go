package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/wotchain/wotchain/fabric/builder"
	"github.com/wotchain/wotchain/fabric/netdesc"
)

// ChaincodePackage is the Go package of the chaincode server Up builds.
const ChaincodePackage = "github.com/wotchain/wotchain/chaincode/cmd/wotchain-cc"

// Options configures Up.
type Options struct {
	// Dir holds everything the network generates. Up clears what an earlier
	// network left there, and refuses while that network still runs
	// (unless Reuse).
	Dir string
	// Reuse has Up return the network already running in Dir, when it is
	// whole and healthy and has the channel and chaincode asked for,
	// instead of refusing (`fabricnet up` twice). Ports are then its own.
	Reuse bool
	// CacheDir is where Fabric's binaries are built ("" = DefaultCacheDir).
	CacheDir string
	// Binaries skips EnsureBinaries when set.
	Binaries *Binaries
	// ChaincodeBinary is a prebuilt chaincode server; "" builds
	// ChaincodePackage with `go build` in ModuleDir.
	ChaincodeBinary string
	// ModuleDir is the WoTChain module root ("" = the module enclosing the
	// working directory).
	ModuleDir string
	Channel   string // "" = DefaultChannel
	Chaincode string // "" = DefaultChaincode
	Ports     Ports
	// StopWithCaller has the kernel kill the network's processes when the
	// calling process dies (tests: no orphans after a timeout panic). Off,
	// the network outlives the caller, as `fabricnet up` needs.
	StopWithCaller bool
	Log            *slog.Logger // nil = slog.Default()
}

// Ports fixes the loopback ports; zero picks a free port.
type Ports struct {
	Orderer, OrdererAdmin, OrdererOperations int
	// Per organisation: peer gRPC (gateway, endorsement, gossip), the peer's
	// chaincode listener, and its operations (/healthz) endpoint.
	ManufacturerPeer, ManufacturerChaincode, ManufacturerOperations int
	PartnerPeer, PartnerChaincode, PartnerOperations                int
	ChaincodeServer                                                 int
}

func (p *Ports) fill() error {
	fields := []*int{&p.Orderer, &p.OrdererAdmin, &p.OrdererOperations,
		&p.ManufacturerPeer, &p.ManufacturerChaincode, &p.ManufacturerOperations,
		&p.PartnerPeer, &p.PartnerChaincode, &p.PartnerOperations, &p.ChaincodeServer}
	free, err := freePorts(len(fields))
	if err != nil {
		return err
	}
	for i, f := range fields {
		if *f == 0 {
			*f = free[i]
		}
	}
	return nil
}

// Up starts a network from nothing and returns its description. On failure
// the processes it started are stopped; Dir keeps the logs. With Reuse, a
// healthy network already running in Dir is returned instead.
func Up(ctx context.Context, opts Options) (_ *netdesc.Network, err error) {
	start := time.Now()
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "fabric-network")
	if opts.Reuse {
		// Before anything that the failure path below would undo: a
		// running network is never stopped here.
		if desc, err := running(ctx, opts, log); desc != nil || err != nil {
			return desc, err
		}
	}
	u, err := plan(opts, log)
	if err != nil {
		return nil, err
	}
	// The chaincode server compiles while Fabric is set up.
	cc := buildChaincode(ctx, opts, u.l)
	defer func() {
		if err != nil {
			cc.wait() // do not leave the build running past Up
			if stopErr := stopProcesses(context.WithoutCancel(ctx), u.l, 5*time.Second, log); stopErr != nil {
				log.Warn("stopping a failed network", "err", stopErr)
			}
		}
	}()

	bins := opts.Binaries
	if bins == nil {
		if bins, err = EnsureBinaries(ctx, opts.CacheDir); err != nil {
			return nil, err
		}
	}
	u.c = &cli{bins: bins, l: u.l, log: log}
	if err := generate(ctx, u.c, u.orgs, u.ports, u.channel); err != nil {
		return nil, err
	}
	if err := u.startNodes(ctx); err != nil {
		return nil, err
	}
	if err := u.c.createChannel(ctx, u.channel, u.ports.OrdererAdmin, u.orgs); err != nil {
		return nil, err
	}
	pkgID, ccAddr, err := u.deployChaincode(ctx, cc)
	if err != nil {
		return nil, err
	}
	if err := waitGatewaysReady(ctx, u.l, u.orgs, u.channel, u.ccName, 60*time.Second); err != nil {
		return nil, err
	}

	desc := describe(u.l, u.orgs, u.ports, u.channel, u.ccName, pkgID, ccAddr)
	if err := desc.Save(); err != nil {
		return nil, err
	}
	log.Info("network up", "dir", u.l.dir, "channel", u.channel, "chaincode", u.ccName, "took", time.Since(start).Round(10*time.Millisecond))
	return desc, nil
}

// upRun is one Up: where the network lives, its names, ports and
// organisations, and the tools that set it up.
type upRun struct {
	l               layout
	channel, ccName string
	ports           Ports
	orgs            []orgSpec
	stopWithCaller  bool
	c               *cli
	log             *slog.Logger
}

// plan settles the directory (cleared of an earlier network), the names
// and the ports of a network.
func plan(opts Options, log *slog.Logger) (*upRun, error) {
	if opts.Dir == "" {
		return nil, errors.New("network directory not set")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	l := layout{dir: dir}
	if err := clearStale(l); err != nil {
		return nil, err
	}
	ports := opts.Ports
	if err := ports.fill(); err != nil {
		return nil, err
	}
	return &upRun{
		l: l, channel: or(opts.Channel, DefaultChannel), ccName: or(opts.Chaincode, DefaultChaincode),
		ports: ports, orgs: orgSpecs(ports), stopWithCaller: opts.StopWithCaller, log: log,
	}, nil
}

// orgSpecs are the two organisations, the manufacturer first, on their
// ports.
func orgSpecs(ports Ports) []orgSpec {
	return []orgSpec{
		{name: "manufacturer", mspID: ManufacturerMSP, domain: "manufacturer.wotchain.local",
			peerPort: ports.ManufacturerPeer, chaincodePort: ports.ManufacturerChaincode, opsPort: ports.ManufacturerOperations},
		{name: "partner", mspID: PartnerMSP, domain: "partner.wotchain.local",
			peerPort: ports.PartnerPeer, chaincodePort: ports.PartnerChaincode, opsPort: ports.PartnerOperations},
	}
}

// chaincodeBuild is the chaincode server's compilation, running beside the
// rest of Up.
type chaincodeBuild struct {
	done chan struct{}
	path string
	err  error
}

func buildChaincode(ctx context.Context, opts Options, l layout) *chaincodeBuild {
	b := &chaincodeBuild{done: make(chan struct{})}
	go func() {
		defer close(b.done)
		b.path, b.err = chaincodeBinary(ctx, opts, l)
	}()
	return b
}

// wait returns the built binary once the build has ended.
func (b *chaincodeBuild) wait() (string, error) {
	<-b.done
	return b.path, b.err
}

// startNodes starts the orderer and the peers and waits until each
// reports healthy.
func (u *upRun) startNodes(ctx context.Context) error {
	ordererCmd := exec.Command(u.c.bins.Path("orderer"))
	ordererCmd.Env = append(os.Environ(), "FABRIC_CFG_PATH="+u.l.config("orderer"))
	if err := startProcess(u.l, "orderer", ordererCmd, u.stopWithCaller, u.log); err != nil {
		return err
	}
	for _, o := range u.orgs {
		cmd := exec.Command(u.c.bins.Path("peer"), "node", "start")
		cmd.Env = append(os.Environ(), "FABRIC_CFG_PATH="+u.l.config(o.peerHost()))
		if err := startProcess(u.l, o.peerHost(), cmd, u.stopWithCaller, u.log); err != nil {
			return err
		}
	}
	if err := waitHealthy(ctx, "orderer", loopback(u.ports.OrdererOperations), u.l, 60*time.Second); err != nil {
		return err
	}
	for _, o := range u.orgs {
		if err := waitHealthy(ctx, o.peerHost(), loopback(o.opsPort), u.l, 60*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// deployChaincode runs the chaincode as a service: package, install, start
// the server, approve, commit. It returns the package id and the server's
// address.
func (u *upRun) deployChaincode(ctx context.Context, cc *chaincodeBuild) (pkgID, ccAddr string, err error) {
	pkg := filepath.Join(u.l.chaincode(), u.ccName+".tar.gz")
	ccAddr = loopback(u.ports.ChaincodeServer)
	if err := packageChaincode(pkg, u.ccName+"_1.0", ccAddr); err != nil {
		return "", "", fmt.Errorf("package chaincode: %w", err)
	}
	for _, o := range u.orgs {
		if err := u.c.installChaincode(ctx, o, pkg); err != nil {
			return "", "", err
		}
	}
	if pkgID, err = u.c.packageID(ctx, u.orgs[0], pkg); err != nil {
		return "", "", err
	}
	ccPath, err := cc.wait()
	if err != nil {
		return "", "", err
	}
	if err := u.startChaincodeServer(ctx, ccPath, pkgID, ccAddr); err != nil {
		return "", "", err
	}
	def := chaincodeDefinition{channel: u.channel, name: u.ccName, version: "1.0", packageID: pkgID, sequence: 1, ordererPort: u.ports.Orderer}
	for _, o := range u.orgs {
		if err := u.c.approve(ctx, o, def); err != nil {
			return "", "", err
		}
	}
	if err := u.c.commit(ctx, u.orgs, def); err != nil {
		return "", "", err
	}
	if err := u.c.waitCommitted(ctx, u.orgs, def, 30*time.Second); err != nil {
		return "", "", err
	}
	return pkgID, ccAddr, nil
}

// startChaincodeServer starts the built server under its package id and
// waits until it listens.
func (u *upRun) startChaincodeServer(ctx context.Context, path, pkgID, addr string) error {
	cmd := exec.Command(path)
	cmd.Env = append(os.Environ(),
		"CHAINCODE_ID="+pkgID,
		"CHAINCODE_SERVER_ADDRESS="+addr,
		"WOTCHAIN_MANUFACTURER_MSP="+ManufacturerMSP,
	)
	if err := startProcess(u.l, "chaincode", cmd, u.stopWithCaller, u.log); err != nil {
		return err
	}
	return waitListening(ctx, "chaincode", addr, u.l, 30*time.Second)
}

// generate writes crypto material, node configuration, the external
// builder, and the channel's genesis block.
func generate(ctx context.Context, c *cli, orgs []orgSpec, ports Ports, channel string) error {
	l := c.l
	cc, err := cryptoConfig(orgs)
	if err != nil {
		return err
	}
	ccPath := l.config("crypto-config.yaml")
	if err := writeFile(ccPath, cc); err != nil {
		return err
	}
	if _, err := c.run(ctx, nil, "cryptogen", "generate", "--config", ccPath, "--output", l.crypto()); err != nil {
		return err
	}

	builderDir, err := builder.Install(l.builder())
	if err != nil {
		return err
	}
	oc, err := ordererConfig(c.bins.SampleConfig, l, ports.Orderer, ports.OrdererAdmin, ports.OrdererOperations)
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(l.config("orderer"), "orderer.yaml"), oc); err != nil {
		return err
	}
	for _, o := range orgs {
		pc, err := peerConfig(c.bins.SampleConfig, l, o, builderDir)
		if err != nil {
			return err
		}
		if err := writeFile(filepath.Join(l.config(o.peerHost()), "core.yaml"), pc); err != nil {
			return err
		}
	}

	tx, err := configtx(l, orgs, ports.Orderer)
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(l.config("channel"), "configtx.yaml"), tx); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(l.genesisBlock()), 0o755); err != nil {
		return err
	}
	_, err = c.run(ctx, []string{"FABRIC_CFG_PATH=" + l.config("channel")}, "configtxgen",
		"-profile", channelProfile, "-outputBlock", l.genesisBlock(), "-channelID", channel)
	return err
}

// chaincodeBinary returns the chaincode server to run, building it into
// Dir/bin unless Options.ChaincodeBinary names one.
func chaincodeBinary(ctx context.Context, opts Options, l layout) (string, error) {
	if opts.ChaincodeBinary != "" {
		return filepath.Abs(opts.ChaincodeBinary)
	}
	modDir := opts.ModuleDir
	if modDir == "" {
		out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
		gomod := strings.TrimSpace(string(out))
		if err != nil || gomod == "" || gomod == os.DevNull {
			return "", fmt.Errorf("not inside the WoTChain module: set Options.ModuleDir or Options.ChaincodeBinary")
		}
		modDir = filepath.Dir(gomod)
	}
	out := filepath.Join(l.bin(), "wotchain-cc")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ChaincodePackage)
	cmd.Dir = modDir
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build chaincode server: %w\n%s", err, tail(string(msg), 3000))
	}
	return out, nil
}

// clearStale refuses to touch a directory whose network still runs, and
// otherwise removes what an earlier Up generated there.
func clearStale(l layout) error {
	procs, err := processes(l)
	if err != nil {
		return err
	}
	for _, p := range procs {
		if p.Running {
			return fmt.Errorf("a network is already running in %s (%s, pid %d): take it down first", l.dir, p.Name, p.PID)
		}
	}
	for _, p := range l.generated() {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("clear %s: %w", p, err)
		}
	}
	return os.MkdirAll(l.dir, 0o755)
}

// describe collects what clients need to connect.
func describe(l layout, orgs []orgSpec, ports Ports, channel, ccName, pkgID, ccAddr string) *netdesc.Network {
	n := &netdesc.Network{
		Dir: l.dir, Channel: channel, Chaincode: ccName, PackageID: pkgID, ChaincodeAddress: ccAddr,
		Orderer: netdesc.Node{
			Address:           loopback(ports.Orderer),
			TLSCAFile:         filepath.Join(l.ordererDir(), "tls", "ca.crt"),
			ServerName:        ordererHost,
			OperationsAddress: loopback(ports.OrdererOperations),
		},
		OrdererAdminAddress: loopback(ports.OrdererAdmin),
	}
	for _, o := range orgs {
		org := netdesc.Org{
			Name: o.name, MSPID: o.mspID, Domain: o.domain, MSPDir: filepath.Join(o.orgDir(l), "msp"),
			Peer: netdesc.Node{
				Address:           o.peerAddress(),
				TLSCAFile:         filepath.Join(o.peerDir(l), "tls", "ca.crt"),
				ServerName:        o.peerHost(),
				OperationsAddress: loopback(o.opsPort),
			},
		}
		users := []string{"Admin"}
		for i := 1; i <= clientUsers; i++ {
			users = append(users, fmt.Sprintf("User%d", i))
		}
		for _, u := range users {
			msp := o.userMSP(l, u)
			org.Users = append(org.Users, netdesc.User{
				Name: u, Admin: u == "Admin", MSPDir: msp,
				CertFile: filepath.Join(msp, "signcerts", u+"@"+o.domain+"-cert.pem"),
				KeyFile:  firstFile(filepath.Join(msp, "keystore")),
			})
		}
		n.Orgs = append(n.Orgs, org)
	}
	return n
}

// firstFile returns the first file in dir (cryptogen names keys priv_sk;
// other tools name them by their SKI).
func firstFile(dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return filepath.Join(dir, "priv_sk")
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			return filepath.Join(dir, e.Name())
		}
	}
	return filepath.Join(dir, "priv_sk")
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Down stops the network in dir (SIGTERM, then SIGKILL after a grace
// period) and, when remove is set, deletes what Up generated there (and dir
// itself if nothing else is left in it).
func Down(ctx context.Context, dir string, remove bool) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	l := layout{dir: abs}
	log := slog.Default().With("component", "fabric-network")
	if err := stopProcesses(ctx, l, 10*time.Second, log); err != nil {
		return err
	}
	if !remove {
		return nil
	}
	for _, p := range l.generated() {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("remove %s: %w", p, err)
		}
	}
	if err := os.Remove(abs); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Debug("network directory kept (not empty)", "dir", abs, "err", err)
	}
	return nil
}

// Status reports the recorded processes of the network in dir.
func Status(dir string) ([]Process, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	return processes(layout{dir: abs})
}
