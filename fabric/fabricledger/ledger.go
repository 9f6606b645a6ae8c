// Package fabricledger is the appliance's ledger on a Hyperledger Fabric
// network: the verbs of the embedded ledger (bridge/ledger.Embedded),
// carried out by the WoTChain chaincode through a Fabric Gateway peer.
//
// Identity and TLS come from files (an MSP's certificate and key, the
// peer's TLS CA). Every call has its own timeout; transient failures
// (Unavailable, DeadlineExceeded) are retried with backoff; contract errors
// come back as the rules sentinels (errors.Is(err, rules.ErrConflict)).
// No Fabric type appears in the exported API.
package fabricledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-gateway/pkg/identity"
	gwproto "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/wotchain/wotchain/chaincode/format"
	"github.com/wotchain/wotchain/chaincode/rules"
	"github.com/wotchain/wotchain/chaincode/wire"
)

// ErrInvalidated reports a transaction that was ordered but invalidated by
// the peers at commit (e.g. an MVCC read conflict or an unmet endorsement
// policy): nothing it wrote is on the ledger.
var ErrInvalidated = errors.New("transaction invalidated at commit")

// maxRecvMsgSize bounds a reply from the peer; Fabric's own limit is 100 MiB.
const maxRecvMsgSize = 32 << 20

// Config says where and as whom to connect.
type Config struct {
	PeerEndpoint string // host:port of a Gateway-enabled peer
	TLSCAFile    string // PEM CA of the peer's TLS certificate
	// ServerNameOverride is the TLS name to check instead of the endpoint's host.
	ServerNameOverride string

	MSPID string
	// CertFile and KeyFile are the client's PEM certificate and PKCS#8 key;
	// when both are empty they are taken from MSPDir (signcerts/, keystore/).
	CertFile, KeyFile string
	MSPDir            string

	Channel   string
	Chaincode string

	Timeouts Timeouts
	Retry    Retry
	Log      *slog.Logger // nil = slog.Default()
}

// Timeouts bound each step of a call; zero takes the default.
type Timeouts struct {
	Evaluate     time.Duration // default 10s
	Endorse      time.Duration // default 15s
	Submit       time.Duration // default 10s
	CommitStatus time.Duration // default 60s
}

// Retry bounds retries of transient failures; zero takes the default.
type Retry struct {
	Attempts int           // per step, default 5
	Initial  time.Duration // first backoff, default 200ms, doubling
	Max      time.Duration // backoff cap, default 3s
}

func (c *Config) defaults() {
	t := &c.Timeouts
	t.Evaluate = orDuration(t.Evaluate, 10*time.Second)
	t.Endorse = orDuration(t.Endorse, 15*time.Second)
	t.Submit = orDuration(t.Submit, 10*time.Second)
	t.CommitStatus = orDuration(t.CommitStatus, 60*time.Second)
	if c.Retry.Attempts <= 0 {
		c.Retry.Attempts = 5
	}
	c.Retry.Initial = orDuration(c.Retry.Initial, 200*time.Millisecond)
	c.Retry.Max = orDuration(c.Retry.Max, 3*time.Second)
	if c.Log == nil {
		c.Log = slog.Default()
	}
}

func orDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Ledger is a connection to the chaincode through one gateway peer. It is
// safe for concurrent use.
type Ledger struct {
	cfg      Config
	conn     *grpc.ClientConn
	gw       *client.Gateway
	contract *client.Contract
	caller   rules.Caller
	log      *slog.Logger
	noBatch  atomic.Bool // the chaincode has no RecordCredentials
}

// Connect opens the connection (gRPC connects lazily, on the first call).
func Connect(cfg Config) (*Ledger, error) {
	cfg.defaults()
	switch {
	case cfg.PeerEndpoint == "":
		return nil, errors.New("fabric ledger: no peer endpoint")
	case cfg.MSPID == "":
		return nil, errors.New("fabric ledger: no MSP id")
	case cfg.Channel == "" || cfg.Chaincode == "":
		return nil, errors.New("fabric ledger: channel and chaincode must be set")
	}
	if cfg.CertFile == "" && cfg.KeyFile == "" {
		if cfg.MSPDir == "" {
			return nil, errors.New("fabric ledger: set CertFile and KeyFile, or MSPDir")
		}
		var err error
		if cfg.CertFile, cfg.KeyFile, err = mspFiles(cfg.MSPDir); err != nil {
			return nil, fmt.Errorf("fabric ledger: %w", err)
		}
	}
	cert, id, sign, err := loadIdentity(cfg.MSPID, cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("fabric ledger: %w", err)
	}
	tlsCreds, err := tlsCredentials(cfg.TLSCAFile, cfg.ServerNameOverride)
	if err != nil {
		return nil, fmt.Errorf("fabric ledger: %w", err)
	}
	// An endorsement's reply holds the whole prepared transaction: for a
	// batch near format.MaxBatchBytes that is several MiB, over gRPC's
	// default 4 MiB receive limit.
	conn, err := grpc.NewClient(cfg.PeerEndpoint, grpc.WithTransportCredentials(tlsCreds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvMsgSize)))
	if err != nil {
		return nil, fmt.Errorf("fabric ledger: connection to %s: %w", cfg.PeerEndpoint, err)
	}
	gw, err := client.Connect(id, client.WithSign(sign), client.WithClientConnection(conn))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("fabric ledger: gateway %s: %w", cfg.PeerEndpoint, err)
	}
	l := &Ledger{
		cfg: cfg, conn: conn, gw: gw,
		contract: gw.GetNetwork(cfg.Channel).GetContract(cfg.Chaincode),
		caller:   CallerOf(cfg.MSPID, cert),
		log:      cfg.Log.With("component", "fabric-ledger", "peer", cfg.PeerEndpoint, "msp", cfg.MSPID),
	}
	return l, nil
}

func loadIdentity(mspID, certFile, keyFile string) (*x509.Certificate, *identity.X509Identity, identity.Sign, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("client certificate: %w", err)
	}
	cert, err := identity.CertificateFromPEM(certPEM)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("client certificate %s: %w", certFile, err)
	}
	id, err := identity.NewX509Identity(mspID, cert)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("client identity: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("client key: %w", err)
	}
	key, err := identity.PrivateKeyFromPEM(keyPEM)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("client key %s: %w", keyFile, err)
	}
	sign, err := identity.NewPrivateKeySign(key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("client key %s: %w", keyFile, err)
	}
	return cert, id, sign, nil
}

func tlsCredentials(caFile, serverName string) (credentials.TransportCredentials, error) {
	if caFile == "" {
		return nil, errors.New("no TLS CA file for the peer")
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("peer TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("peer TLS CA %s: no certificate", caFile)
	}
	return credentials.NewClientTLSFromCert(pool, serverName), nil
}

// Close closes the gateway and its connection.
func (l *Ledger) Close() error {
	l.gw.Close()
	return l.conn.Close()
}

// Identity is the caller the contract sees for this connection (to register
// it as an appliance's anchoring identity).
func (l *Ledger) Identity() rules.Caller { return l.caller }

// RegisterAppliance registers an appliance, or updates the anchoring
// identity of one registered with the same key (another key is
// rules.ErrConflict: see RotateApplianceKey). The connection's identity
// must be an admin of the manufacturer.
func (l *Ledger) RegisterAppliance(ctx context.Context, a rules.Appliance) error {
	arg, err := json.Marshal(a)
	if err != nil {
		return err
	}
	_, err = l.submit(ctx, wire.TxRegisterAppliance, string(arg))
	if err != nil {
		return fmt.Errorf("register appliance %s: %w", a.ID, err)
	}
	return nil
}

// RotateApplianceKey gives an appliance a new signing key for its blocks
// from fromHeight on and waits until it is committed; it returns the
// appliance with its key history. The connection's identity must be an
// admin of the manufacturer.
func (l *Ledger) RotateApplianceKey(ctx context.Context, applianceID string, pub ed25519.PublicKey, fromHeight uint64) (*rules.Appliance, error) {
	res, err := l.submit(ctx, wire.TxRotateApplianceKey, applianceID, base64.StdEncoding.EncodeToString(pub), strconv.FormatUint(fromHeight, 10))
	if err == nil {
		var a *rules.Appliance
		if a, err = keyHistoryResult(wire.TxRotateApplianceKey, res, applianceID); err == nil {
			if !bytes.Equal(a.Current().PublicKey, pub) {
				return nil, fmt.Errorf("rotate key of appliance %s: %s: the peer returned key %s as current, not the new one", applianceID, wire.TxRotateApplianceKey, a.Current().ID)
			}
			return a, nil
		}
	}
	return nil, fmt.Errorf("rotate key of appliance %s: %w", applianceID, err)
}

// RevokeApplianceKey records that an appliance key was compromised at
// compromisedAt, and waits until it is committed: from then on the
// contract refuses blocks signed by it (rules.ErrKeyRevoked). It returns
// the appliance with its key history. The connection's identity must be
// an admin of the manufacturer.
func (l *Ledger) RevokeApplianceKey(ctx context.Context, applianceID, keyID string, compromisedAt time.Time, reason string) (*rules.Appliance, error) {
	res, err := l.submit(ctx, wire.TxRevokeApplianceKey, applianceID, keyID, strconv.FormatInt(rules.UnixNano(compromisedAt), 10), reason)
	if err == nil {
		var a *rules.Appliance
		if a, err = keyHistoryResult(wire.TxRevokeApplianceKey, res, applianceID); err == nil {
			if k, ok := a.Key(keyID); !ok || k.CompromisedAt == 0 {
				return nil, fmt.Errorf("revoke key %s of appliance %s: %s: the peer returned the key unrevoked", keyID, applianceID, wire.TxRevokeApplianceKey)
			}
			return a, nil
		}
	}
	return nil, fmt.Errorf("revoke key %s of appliance %s: %w", keyID, applianceID, err)
}

// Anchor records a block credential and waits until it is committed;
// recorded is false when the identical credential was already on the ledger.
// A transaction invalidated at commit is an error (ErrInvalidated), never a
// silent success.
func (l *Ledger) Anchor(ctx context.Context, sub format.Submission) (*format.Credential, bool, error) {
	arg, err := json.Marshal(sub)
	if err != nil {
		return nil, false, err
	}
	res, err := l.submit(ctx, wire.TxRecordCredential, string(arg))
	if err != nil {
		return nil, false, fmt.Errorf("anchor block: %w", err)
	}
	c, recorded, err := anchoredResult(res, sub)
	if err != nil {
		return nil, false, fmt.Errorf("anchor block: %w", err)
	}
	return c, recorded, nil
}

// AnchorBatch records consecutive blocks of one appliance in one
// transaction (wire.TxRecordCredentials) and waits until it is committed,
// with Anchor's retries and commit-status check. The results are in
// submission order. The batch is atomic: a block the contract refuses fails
// it with that block's rules error, and nothing is recorded.
//
// A chaincode older than the batch transaction gets one transaction per
// block instead (logged once); then a failure returns, with the error, the
// results of the blocks committed before it.
func (l *Ledger) AnchorBatch(ctx context.Context, subs []format.Submission) ([]format.Anchored, error) {
	if !l.noBatch.Load() {
		arg, err := json.Marshal(subs)
		if err != nil {
			return nil, fmt.Errorf("anchor batch: %w", err)
		}
		res, err := l.submit(ctx, wire.TxRecordCredentials, string(arg))
		if err == nil {
			return batchResult(res, subs)
		}
		if !unknownFunction(err, wire.TxRecordCredentials) {
			return nil, fmt.Errorf("anchor batch of %d blocks: %w", len(subs), err)
		}
		l.noBatch.Store(true)
		l.log.Warn("the chaincode has no batch transaction (an older version?): anchoring one block per transaction until reconnected",
			"tx", wire.TxRecordCredentials, "err", err)
	}
	out := make([]format.Anchored, 0, len(subs))
	for _, sub := range subs {
		c, recorded, err := l.Anchor(ctx, sub)
		if err != nil {
			return out, err
		}
		out = append(out, format.Anchored{Credential: c, Recorded: recorded})
	}
	return out, nil
}

// unknownFunction reports whether err is contractapi refusing a
// transaction name the chaincode does not have.
func unknownFunction(err error, tx string) bool {
	for _, t := range errorTexts(err) {
		if strings.Contains(t, "Function "+tx+" not found in contract") {
			return true
		}
	}
	return false
}

// Credential returns the credential of a block.
func (l *Ledger) Credential(ctx context.Context, blockID string) (*format.Credential, error) {
	res, err := l.evaluate(ctx, wire.TxGetCredential, blockID)
	if err == nil {
		var c *format.Credential
		if c, err = credentialResult(wire.TxGetCredential, res, ofBlock(blockID)); err == nil {
			return c, nil
		}
	}
	return nil, fmt.Errorf("credential of block %s: %w", blockID, err)
}

// CredentialAt returns the credential of an appliance's block at a height.
func (l *Ledger) CredentialAt(ctx context.Context, applianceID string, height uint64) (*format.Credential, error) {
	res, err := l.evaluate(ctx, wire.TxCredentialAt, applianceID, strconv.FormatUint(height, 10))
	if err == nil {
		var c *format.Credential
		if c, err = credentialResult(wire.TxCredentialAt, res, atHeight(applianceID, height)); err == nil {
			return c, nil
		}
	}
	return nil, fmt.Errorf("credential of appliance %s block %d: %w", applianceID, height, err)
}

// Appliance returns a registered appliance.
func (l *Ledger) Appliance(ctx context.Context, id string) (*rules.Appliance, error) {
	res, err := l.evaluate(ctx, wire.TxGetAppliance, id)
	if err == nil {
		var a *rules.Appliance
		if a, err = applianceResult(res, id); err == nil {
			return a, nil
		}
	}
	return nil, fmt.Errorf("appliance %s: %w", id, err)
}

// ApplianceHistory returns every committed registration of an appliance.
func (l *Ledger) ApplianceHistory(ctx context.Context, id string) ([]wire.HistoryEntry, error) {
	res, err := l.evaluate(ctx, wire.TxApplianceHistory, id)
	if err == nil {
		var h []wire.HistoryEntry
		if h, err = historyResult(res, id); err == nil {
			return h, nil
		}
	}
	return nil, fmt.Errorf("history of appliance %s: %w", id, err)
}

// ListByDevice lists credentials of a device's blocks overlapping [from, to] (Unix ns).
func (l *Ledger) ListByDevice(ctx context.Context, device string, from, to int64, limit int, bookmark string) (*format.Page, error) {
	res, err := l.evaluate(ctx, wire.TxListByDevice, device,
		strconv.FormatInt(from, 10), strconv.FormatInt(to, 10), strconv.Itoa(limit), bookmark)
	if err == nil {
		var p *format.Page
		if p, err = pageResult(wire.TxListByDevice, res, ofDevice(device, from, to), false); err == nil {
			return p, nil
		}
	}
	return nil, fmt.Errorf("credentials of device %s: %w", device, err)
}

// ListByAppliance lists an appliance's credentials in height order.
func (l *Ledger) ListByAppliance(ctx context.Context, applianceID string, limit int, bookmark string) (*format.Page, error) {
	res, err := l.evaluate(ctx, wire.TxListByAppliance, applianceID, strconv.Itoa(limit), bookmark)
	if err == nil {
		var p *format.Page
		if p, err = pageResult(wire.TxListByAppliance, res, ofAppliance(applianceID), true); err == nil {
			return p, nil
		}
	}
	return nil, fmt.Errorf("credentials of appliance %s: %w", applianceID, err)
}

// RecordGrant records a licensing grant and waits until it is committed.
// The connection's identity must be an admin of the appliance's owner;
// GrantedAt is the transaction's timestamp. recorded is false when the
// identical grant was already on the ledger (returned with its first
// GrantedAt); other terms under the same id are a rules.ErrConflict.
func (l *Ledger) RecordGrant(ctx context.Context, g rules.Grant) (*rules.Grant, bool, error) {
	arg, err := json.Marshal(g)
	if err != nil {
		return nil, false, fmt.Errorf("record grant %s: %w", g.ID, err)
	}
	res, err := l.submit(ctx, wire.TxRecordGrant, string(arg))
	if err != nil {
		return nil, false, fmt.Errorf("record grant %s of appliance %s: %w", g.ID, g.ApplianceID, err)
	}
	var out wire.Granted
	if err := decodeResult(wire.TxRecordGrant, res, &out); err != nil {
		return nil, false, fmt.Errorf("record grant %s: %w", g.ID, err)
	}
	if err := grantResult(wire.TxRecordGrant, out.Grant, g.ApplianceID, g.ID); err != nil {
		return nil, false, err
	}
	return out.Grant, out.Recorded, nil
}

// RevokeGrant revokes a grant from the transaction's timestamp on and waits
// until it is committed. Revoking a revoked grant keeps the first time.
func (l *Ledger) RevokeGrant(ctx context.Context, applianceID, grantID string) (*rules.Grant, error) {
	res, err := l.submit(ctx, wire.TxRevokeGrant, applianceID, grantID)
	if err != nil {
		return nil, fmt.Errorf("revoke grant %s of appliance %s: %w", grantID, applianceID, err)
	}
	var g *rules.Grant
	if err := decodeResult(wire.TxRevokeGrant, res, &g); err != nil {
		return nil, fmt.Errorf("revoke grant %s: %w", grantID, err)
	}
	if err := grantResult(wire.TxRevokeGrant, g, applianceID, grantID); err != nil {
		return nil, err
	}
	if g.RevokedAt == 0 {
		return nil, fmt.Errorf("%s: the peer returned grant %s unrevoked", wire.TxRevokeGrant, grantID)
	}
	return g, nil
}

// GetGrant returns one grant of an appliance.
func (l *Ledger) GetGrant(ctx context.Context, applianceID, grantID string) (*rules.Grant, error) {
	res, err := l.evaluate(ctx, wire.TxGetGrant, applianceID, grantID)
	if err == nil {
		var g *rules.Grant
		if err = decodeResult(wire.TxGetGrant, res, &g); err == nil {
			if err = grantResult(wire.TxGetGrant, g, applianceID, grantID); err == nil {
				return g, nil
			}
		}
	}
	return nil, fmt.Errorf("grant %s of appliance %s: %w", grantID, applianceID, err)
}

// ListGrants lists an appliance's grants, revoked ones included, in grant id order.
func (l *Ledger) ListGrants(ctx context.Context, applianceID string, limit int, bookmark string) (*rules.GrantPage, error) {
	res, err := l.evaluate(ctx, wire.TxListGrants, applianceID, strconv.Itoa(limit), bookmark)
	if err == nil {
		var p *rules.GrantPage
		if p, err = grantPageResult(res, applianceID); err == nil {
			return p, nil
		}
	}
	return nil, fmt.Errorf("grants of appliance %s: %w", applianceID, err)
}

// evaluate runs a read-only transaction on the gateway's peer.
func (l *Ledger) evaluate(ctx context.Context, tx string, args ...string) ([]byte, error) {
	proposal, err := l.contract.NewProposal(tx, client.WithArguments(args...))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tx, err)
	}
	var res []byte
	err = l.retry(ctx, tx, "evaluate", l.cfg.Timeouts.Evaluate, func(ctx context.Context) error {
		res, err = proposal.EvaluateWithContext(ctx)
		return err
	})
	return res, err
}

// submit endorses, orders and waits for the commit of a transaction. Each
// step is retried on its own, reusing the same signed transaction: a
// resubmitted transaction keeps its id, so the ledger can never apply it
// twice (a copy is invalidated as a duplicate).
func (l *Ledger) submit(ctx context.Context, tx string, args ...string) ([]byte, error) {
	proposal, err := l.contract.NewProposal(tx, client.WithArguments(args...))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tx, err)
	}
	txID := proposal.TransactionID()
	var endorsed *client.Transaction
	err = l.retry(ctx, tx, "endorse", l.cfg.Timeouts.Endorse, func(ctx context.Context) error {
		endorsed, err = proposal.EndorseWithContext(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	var commit *client.Commit
	err = l.retry(ctx, tx, "submit", l.cfg.Timeouts.Submit, func(ctx context.Context) error {
		commit, err = endorsed.SubmitWithContext(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	var st *client.Status
	err = l.retry(ctx, tx, "commit status", l.cfg.Timeouts.CommitStatus, func(ctx context.Context) error {
		st, err = commit.StatusWithContext(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !st.Successful {
		return nil, fmt.Errorf("%s: transaction %s in block %d: %w (%s)", tx, txID, st.BlockNumber, ErrInvalidated, st.Code)
	}
	l.log.Debug("committed", "tx", tx, "txid", txID, "block", st.BlockNumber)
	return endorsed.Result(), nil
}

// retry runs one step with a per-attempt timeout, retrying transient gRPC
// failures with exponential backoff; other errors are mapped at once.
func (l *Ledger) retry(ctx context.Context, tx, step string, timeout time.Duration, fn func(context.Context) error) error {
	wait := l.cfg.Retry.Initial
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, timeout)
		err := fn(actx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || attempt >= l.cfg.Retry.Attempts || !retryable(err) {
			return mapError(tx, step, err)
		}
		l.log.Debug("transient failure; retrying", "tx", tx, "step", step, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return mapError(tx, step, err)
		case <-time.After(wait):
		}
		wait = min(2*wait, l.cfg.Retry.Max)
	}
}

// retryable reports failures that may pass: a peer or orderer that is not
// reachable yet, a step that timed out, or a gateway that does not (yet, or
// after a peer restart) know enough peers to satisfy the endorsement policy.
func retryable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	st := status.Convert(err)
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	case codes.FailedPrecondition:
		return strings.Contains(st.Message(), "no combination of peers can be derived")
	}
	return false
}

// mapError turns a tagged contract error (carried in the gateway error's
// message or its per-peer details) into the rules sentinel it names.
func mapError(tx, step string, err error) error {
	for _, t := range errorTexts(err) {
		if e := wire.Decode(t); e != nil {
			return fmt.Errorf("%s: %w", tx, e)
		}
	}
	return fmt.Errorf("%s: %s: %w", tx, step, err)
}

// errorTexts is err's message and, for a gateway error, each peer's message
// from its details (where endorsement failures carry the chaincode's text).
func errorTexts(err error) []string {
	texts := []string{err.Error()}
	if st, ok := status.FromError(err); ok {
		for _, d := range st.Details() {
			if detail, ok := d.(*gwproto.ErrorDetail); ok {
				texts = append(texts, detail.GetMessage())
			}
		}
	}
	return texts
}
