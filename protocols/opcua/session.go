package opcua

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	gopcua "github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"
)

// dialer opens sessions to one server with the configured security and
// user identity. It holds no connection itself.
type dialer struct {
	endpoint  string
	policy    string // configuration name
	policyURI string
	mode      ua.MessageSecurityMode
	tofu      bool
	pki       pki
	appURI    string
	appCert   []byte // DER; nil with security None
	appKey    *rsa.PrivateKey
	creds     credentials
	timeout   time.Duration
	session   string // session name, shown in the server's diagnostics
	log       *slog.Logger
}

// newDialer checks and loads everything a connection needs, so a missing
// password or an unwritable state directory fails at start-up rather than
// at the first poll. It generates the application certificate when the
// security policy needs one and none exists yet.
func newDialer(cfg *Config, endpoint, stateDir string, timeout time.Duration, session string, log *slog.Logger) (*dialer, error) {
	uri, _ := policyURI(cfg.policy())
	mode, _ := messageSecurityMode(cfg.mode())
	d := &dialer{
		endpoint: endpoint, policy: cfg.policy(), policyURI: uri, mode: mode, tofu: cfg.TrustOnFirstUse,
		pki: pki{dir: stateDir, log: log}, appURI: defaultAppURI(), timeout: timeout, session: session, log: log,
	}
	creds, err := loadCredentials(cfg)
	if err != nil {
		return nil, err
	}
	d.creds = creds
	if d.policy == PolicyNone {
		if creds.username != "" {
			log.Warn("user name and password over security policy None: only the server's token policy protects the password")
		}
		return d, nil
	}
	if stateDir == "" {
		return nil, fmt.Errorf("security policy %s needs a state directory for the application certificate and trust list", d.policy)
	}
	d.appCert, d.appKey, err = d.pki.ownCert(d.appURI)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// defaultAppURI names this appliance's OPC UA client application; it goes
// into the certificate generated on first start, and servers see it in the
// session's client description.
func defaultAppURI() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return "urn:" + host + ":wotchain:opcua-client"
}

// dial connects and activates a session. It returns the number of service
// requests it sent along with the client.
func (d *dialer) dial(ctx context.Context) (*gopcua.Client, int, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*d.timeout) // a handful of requests, each bounded by d.timeout
	defer cancel()

	base := []gopcua.Option{
		gopcua.AutoReconnect(false), // the Source reconnects; gopcua's loop would race it
		gopcua.RequestTimeout(d.timeout),
		gopcua.DialTimeout(d.timeout),
	}
	eps, err := gopcua.GetEndpoints(ctx, d.endpoint, base...)
	if err != nil {
		return nil, 1, fmt.Errorf("get endpoints: %w", err)
	}
	ep, err := d.selectEndpoint(eps)
	if err != nil {
		return nil, 1, err
	}
	if d.policy != PolicyNone {
		if err := d.pki.checkServer(d.endpoint, ep.ServerCertificate, d.tofu); err != nil {
			return nil, 1, err
		}
	}
	tokenType := d.tokenType()
	if !offersToken(ep, tokenType) {
		return nil, 1, fmt.Errorf("endpoint %s/%s does not accept %s users (offers: %s)",
			d.policy, modeName(d.mode), d.creds.kind(), tokenNames(ep))
	}

	opts := append(base,
		gopcua.ApplicationName("wotchain"),
		gopcua.ApplicationURI(d.appURI),
		gopcua.ProductURI("urn:wotchain"),
		gopcua.SessionName(d.session),
	)
	if d.appCert != nil {
		// Certificate also sets the application URI from the certificate,
		// which must match it; the certificate may predate a host rename.
		opts = append(opts, gopcua.Certificate(d.appCert), gopcua.PrivateKey(d.appKey))
	}
	switch {
	case d.creds.username != "":
		opts = append(opts, gopcua.AuthUsername(d.creds.username, d.creds.password))
	case d.creds.userCert != nil:
		opts = append(opts, gopcua.AuthCertificate(d.creds.userCert), gopcua.AuthPrivateKey(d.creds.userKey))
	}
	opts = append(opts, gopcua.SecurityFromEndpoint(ep, tokenType))

	// Connect to the configured URL, not ep.EndpointURL: servers often
	// advertise a host name the appliance cannot resolve.
	c, err := gopcua.NewClient(d.endpoint, opts...)
	if err != nil {
		return nil, 1, fmt.Errorf("new client: %w", err)
	}
	if err := connectGuarded(ctx, c); err != nil {
		closeClient(c, d.timeout) // Connect leaves the dialled socket open on some failures
		return nil, 4, d.explain(err)
	}
	d.log.Info("connected", "security_policy", d.policy, "security_mode", modeName(d.mode), "user", d.creds.kind())
	// GetEndpoints, CreateSession, ActivateSession, Read of the NamespaceArray.
	return c, 4, nil
}

// connectGuarded runs Connect, turning a panic into an error: gopcua
// v0.8.0 dereferences a nil session when a server's CreateSession signature
// does not verify, and one misbehaving device must not stop the appliance.
func connectGuarded(ctx context.Context, c *gopcua.Client) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("session set-up failed on the server's answer (invalid signature or response): %v", r)
		}
	}()
	return c.Connect(ctx)
}

func (d *dialer) selectEndpoint(eps []*ua.EndpointDescription) (*ua.EndpointDescription, error) {
	var offered []string
	for _, ep := range eps {
		if ep == nil {
			continue
		}
		if ep.SecurityPolicyURI == d.policyURI && ep.SecurityMode == d.mode {
			return ep, nil
		}
		offered = append(offered, strings.TrimPrefix(ep.SecurityPolicyURI, "http://opcfoundation.org/UA/SecurityPolicy#")+
			"/"+modeName(ep.SecurityMode))
	}
	return nil, fmt.Errorf("server offers no endpoint with security policy %s and mode %s (offers: %s)",
		d.policy, modeName(d.mode), strings.Join(offered, ", "))
}

func modeName(m ua.MessageSecurityMode) string {
	return strings.TrimPrefix(m.String(), "MessageSecurityMode")
}

func (d *dialer) tokenType() ua.UserTokenType {
	switch {
	case d.creds.username != "":
		return ua.UserTokenTypeUserName
	case d.creds.userCert != nil:
		return ua.UserTokenTypeCertificate
	}
	return ua.UserTokenTypeAnonymous
}

func offersToken(ep *ua.EndpointDescription, t ua.UserTokenType) bool {
	for _, p := range ep.UserIdentityTokens {
		if p != nil && p.TokenType == t {
			return true
		}
	}
	return false
}

func tokenNames(ep *ua.EndpointDescription) string {
	var names []string
	for _, p := range ep.UserIdentityTokens {
		if p != nil {
			names = append(names, strings.TrimPrefix(p.TokenType.String(), "UserTokenType"))
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// explain adds what an operator should check to the status codes a server
// answers a refused session with.
func (d *dialer) explain(err error) error {
	switch {
	case errors.Is(err, ua.StatusBadUserAccessDenied), errors.Is(err, ua.StatusBadIdentityTokenRejected),
		errors.Is(err, ua.StatusBadIdentityTokenInvalid):
		if d.creds.username != "" {
			return fmt.Errorf("server rejected user %q: wrong user name or password? (%w)", d.creds.username, err)
		}
		return fmt.Errorf("server rejected the %s user identity (%w)", d.creds.kind(), err)
	case d.appCert != nil && (errors.Is(err, ua.StatusBadCertificateUntrusted) ||
		errors.Is(err, ua.StatusBadSecurityChecksFailed) || errors.Is(err, ua.StatusBadCertificateInvalid)):
		return fmt.Errorf("server refused the application certificate %s: trust it on the server (%w)",
			d.pki.ownDir()+"/cert.pem", err)
	}
	return fmt.Errorf("connect: %w", err)
}

// closeClient closes c within timeout: closing sends a CloseSession
// request, which must not hang on a dead server.
func closeClient(c *gopcua.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Close(ctx)
}
