package network

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// cli runs Fabric's command-line tools against the network.
type cli struct {
	bins *Binaries
	l    layout
	log  *slog.Logger
}

// run executes a tool and returns its combined output; a failure carries the
// output's tail, where Fabric's tools print the reason.
func (c *cli) run(ctx context.Context, env []string, tool string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, c.bins.Path(tool), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = c.l.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w\n%s", tool, strings.Join(args, " "), err, tail(string(out), 3000))
	}
	return out, nil
}

// peerEnv makes the peer CLI act as the organisation's admin against its peer.
func (c *cli) peerEnv(o orgSpec) []string {
	return []string{
		"FABRIC_CFG_PATH=" + c.l.config(o.peerHost()),
		"CORE_PEER_ADDRESS=" + o.peerAddress(),
		"CORE_PEER_LOCALMSPID=" + o.mspID,
		"CORE_PEER_MSPCONFIGPATH=" + o.userMSP(c.l, "Admin"),
		"CORE_PEER_TLS_ENABLED=true",
		"CORE_PEER_TLS_ROOTCERT_FILE=" + filepath.Join(o.peerDir(c.l), "tls", "ca.crt"),
		"FABRIC_LOGGING_SPEC=warning",
	}
}

func (c *cli) peer(ctx context.Context, o orgSpec, args ...string) ([]byte, error) {
	return c.run(ctx, c.peerEnv(o), "peer", args...)
}

// transient reports whether a tool failed for a reason that goes away by
// itself on a fresh network: a server still starting, raft still electing
// its leader, gossip still connecting.
func transient(err error) bool {
	s := strings.ToLower(err.Error())
	for _, m := range []string{"unavailable", "connection refused", "deadline exceeded", "no raft leader", "failed to connect", "timed out", "timeout expired", "eof"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// retry runs fn until it succeeds, fails for a non-transient reason, or
// attempts run out, backing off from 200 ms to 2 s.
func retry(ctx context.Context, log *slog.Logger, what string, attempts int, fn func() error) error {
	wait := 200 * time.Millisecond
	for i := 1; ; i++ {
		err := fn()
		if err == nil || i == attempts || !transient(err) {
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			return nil
		}
		log.Debug("transient failure; retrying", "what", what, "attempt", i, "err", firstLine(err.Error()))
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(wait*2, 2*time.Second)
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// createChannel has the orderer join the channel from its genesis block,
// then each peer.
func (c *cli) createChannel(ctx context.Context, channel string, adminPort int, orgs []orgSpec) error {
	err := retry(ctx, c.log, "orderer joins channel "+channel, 20, func() error {
		out, err := c.run(ctx, nil, "osnadmin", "channel", "join", "--channelID", channel,
			"--config-block", c.l.genesisBlock(), "-o", loopback(adminPort))
		if err != nil && strings.Contains(string(out), "already exists") {
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, o := range orgs {
		err := retry(ctx, c.log, o.peerHost()+" joins channel "+channel, 20, func() error {
			out, err := c.peer(ctx, o, "channel", "join", "-b", c.l.genesisBlock())
			if err != nil && strings.Contains(string(out), "already exists") {
				return nil // an earlier attempt got through
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	c.log.Info("channel created", "channel", channel)
	return nil
}

// packageChaincode writes a chaincode-as-a-service package: metadata.json
// of type ccaas and code.tar.gz holding connection.json, which tells the
// peers (through our external builder) where the chaincode server listens.
func packageChaincode(path, label, address string) error {
	conn, err := json.Marshal(map[string]any{"address": address, "dial_timeout": "10s", "tls_required": false})
	if err != nil {
		return err
	}
	code, err := tarGz(map[string][]byte{"connection.json": conn})
	if err != nil {
		return err
	}
	meta, err := json.Marshal(map[string]string{"type": "ccaas", "label": label})
	if err != nil {
		return err
	}
	pkg, err := tarGz(map[string][]byte{"metadata.json": meta, "code.tar.gz": code})
	if err != nil {
		return err
	}
	return writeFile(path, pkg)
}

// tarGz builds a deterministic archive (sorted names, fixed times), so the
// same address always gives the same package id.
func tarGz(files map[string][]byte) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		hdr := &tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(files[n]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// installChaincode installs the package on a peer. Installing the same
// package twice is reported as an error by the peer, which a retry accepts.
func (c *cli) installChaincode(ctx context.Context, o orgSpec, pkg string) error {
	return retry(ctx, c.log, "install chaincode on "+o.peerHost(), 10, func() error {
		out, err := c.peer(ctx, o, "lifecycle", "chaincode", "install", pkg)
		if err != nil && strings.Contains(string(out), "chaincode already successfully installed") {
			return nil
		}
		return err
	})
}

func (c *cli) packageID(ctx context.Context, o orgSpec, pkg string) (string, error) {
	out, err := c.peer(ctx, o, "lifecycle", "chaincode", "calculatepackageid", pkg)
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(string(out))
	if !strings.Contains(id, ":") || strings.ContainsAny(id, " \n") {
		return "", fmt.Errorf("calculatepackageid printed %q", out)
	}
	return id, nil
}

// chaincodeDefinition holds the arguments shared by approve and commit.
type chaincodeDefinition struct {
	channel, name, version, packageID string
	sequence                          int
	ordererPort                       int
}

func (c *cli) definitionArgs(d chaincodeDefinition) []string {
	return []string{
		"-o", loopback(d.ordererPort), "--tls",
		"--cafile", filepath.Join(c.l.ordererDir(), "tls", "ca.crt"),
		"--channelID", d.channel, "--name", d.name, "--version", d.version,
		"--sequence", fmt.Sprint(d.sequence), "--signature-policy", EndorsementPolicy,
	}
}

func (c *cli) approve(ctx context.Context, o orgSpec, d chaincodeDefinition) error {
	args := append([]string{"lifecycle", "chaincode", "approveformyorg", "--package-id", d.packageID, "--waitForEventTimeout", "30s"}, c.definitionArgs(d)...)
	return retry(ctx, c.log, o.mspID+" approves chaincode "+d.name, 20, func() error {
		out, err := c.peer(ctx, o, args...)
		if err != nil && strings.Contains(string(out), "redefine uncommitted sequence") {
			return nil // an earlier attempt was ordered after all
		}
		return err
	})
}

// commit commits the definition, collecting endorsements from every peer.
func (c *cli) commit(ctx context.Context, orgs []orgSpec, d chaincodeDefinition) error {
	args := append([]string{"lifecycle", "chaincode", "commit", "--waitForEventTimeout", "30s"}, c.definitionArgs(d)...)
	for _, o := range orgs {
		args = append(args, "--peerAddresses", o.peerAddress(), "--tlsRootCertFiles", filepath.Join(o.peerDir(c.l), "tls", "ca.crt"))
	}
	return retry(ctx, c.log, "commit chaincode "+d.name, 20, func() error {
		_, err := c.peer(ctx, orgs[0], args...)
		if err != nil && c.committed(ctx, orgs[0], d) {
			return nil // an earlier attempt was ordered after all
		}
		return err
	})
}

// committed reports whether the definition is committed as seen by o's peer.
func (c *cli) committed(ctx context.Context, o orgSpec, d chaincodeDefinition) bool {
	out, err := c.peer(ctx, o, "lifecycle", "chaincode", "querycommitted", "--channelID", d.channel, "--name", d.name, "--output", "json")
	if err != nil {
		return false
	}
	var res struct {
		Sequence int64 `json:"sequence"`
	}
	return json.Unmarshal(out, &res) == nil && res.Sequence == int64(d.sequence)
}

// waitCommitted waits until every peer sees the committed definition.
func (c *cli) waitCommitted(ctx context.Context, orgs []orgSpec, d chaincodeDefinition, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, o := range orgs {
		for !c.committed(ctx, o, d) {
			select {
			case <-ctx.Done():
				return fmt.Errorf("chaincode %s not committed on %s: %w", d.name, o.peerHost(), ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}
