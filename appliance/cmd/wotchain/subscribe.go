package main

import (
	"context"
	"crypto/ed25519"
	"crypto/hpke"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/wotchain/wotchain/appliance/daemon"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/livesub"
	"github.com/wotchain/wotchain/bridge/publish"
	"github.com/wotchain/wotchain/internal/secret"
)

// cmdSubscribe reads a partner's live streams: the grants of --key's
// partner on --appliance (or --grant), decrypted and their poll signatures
// checked against the appliance's keys on the ledger, as JSON lines.
func cmdSubscribe(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("subscribe")
	path := fs.String("config", "", "partner configuration: the ledger, and the broker in its mqtt section")
	keyPath := fs.String("key", "", "your recipient private key (HPKE)")
	app := fs.String("appliance", "", "appliance id (default: the configuration's appliance.id)")
	grant := fs.String("grant", "", "one grant id (default: every grant of your key on the appliance)")
	outPath := fs.String("out", "", "append JSON lines to this file (default: standard output)")
	statePath := fs.String("state", "", "position file (default: <out>.state, or subscribe.state)")
	anchorEvery := fs.Duration("anchor-every", 30*time.Second, "how often to look for the anchored blocks of the readings received")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *keyPath == "" {
		return fmt.Errorf("%w: --key is required", errUsage)
	}
	n, err := openView(*path)
	if err != nil {
		return err
	}
	defer n.Close()
	if *app == "" {
		*app = n.Cfg.Appliance.ID
	}
	if *app == "" || n.Cfg.MQTT == nil {
		return fmt.Errorf("%w: give --appliance (or appliance.id) and an mqtt section naming the broker", errUsage)
	}
	priv, err := keys.LoadRecipient(*keyPath)
	if err != nil {
		return err
	}
	appKeys, err := applianceKeys(ctx, n, *app)
	if err != nil {
		return err
	}
	grants, err := subscribedGrants(ctx, n, *app, *grant, priv.PublicKey())
	if err != nil {
		return err
	}
	broker, err := brokerOf(n.Cfg.MQTT)
	if err != nil {
		return err
	}
	out, closeOut, err := openSubscribeOut(stdout, *outPath)
	if err != nil {
		return err
	}
	defer closeOut()
	if *statePath == "" {
		*statePath = "subscribe.state"
		if *outPath != "" {
			*statePath = *outPath + ".state"
		}
	}
	sub, err := livesub.New(priv, appKeys, grants, *statePath, out)
	if err != nil {
		return err
	}
	if f, ok := out.(*os.File); ok && *outPath != "" {
		if err := sub.Resume(f); err != nil {
			return err
		}
	}
	return runSubscriber(ctx, sub, n, broker, *app, grants, *anchorEvery)
}

// applianceKeys are every signing key of the appliance's history on the
// ledger (the current one last): a reading is checked against the key
// that signed its poll.
func applianceKeys(ctx context.Context, n *daemon.Node, app string) ([]ed25519.PublicKey, error) {
	a, err := n.Ledger.Appliance(ctx, app)
	if err != nil {
		return nil, fmt.Errorf("appliance %s: %w", app, err)
	}
	out := make([]ed25519.PublicKey, 0, len(a.Keys))
	for _, k := range a.Keys {
		out = append(out, k.PublicKey)
	}
	return out, nil
}

// subscribedGrants is --grant, or every grant of the appliance for the
// partner's key.
func subscribedGrants(ctx context.Context, n *daemon.Node, app, grant string, pub hpke.PublicKey) ([]string, error) {
	if grant != "" {
		return []string{grant}, nil
	}
	kid := keys.KeyID(pub)
	grants, err := (&partnerGrants{ledger: n.Ledger, kid: kid}).ids(ctx, app)
	if err != nil {
		return nil, err
	}
	if len(grants) == 0 {
		return nil, fmt.Errorf("no grant of appliance %s is for key %s", app, kid)
	}
	return grants, nil
}

// brokerOf is the broker and the partner's credentials from the mqtt
// section; the password is read as every other secret (a file others
// cannot read, or an environment variable).
func brokerOf(c *publish.Config) (livesub.Broker, error) {
	b := livesub.Broker{URL: c.Broker, ClientID: c.ClientID, Username: c.Username}
	if c.PasswordEnv != "" || c.PasswordFile != "" {
		pw, err := secret.Value("mqtt password", c.PasswordEnv, c.PasswordFile)
		if err != nil {
			return b, err
		}
		b.Password = pw
	}
	return b, nil
}

// openSubscribeOut is where the lines go: standard output, or the file
// --out names, appended to.
func openSubscribeOut(stdout io.Writer, path string) (io.Writer, func(), error) {
	if path == "" {
		return stdout, func() {}, nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

// runSubscriber reads the streams until ctx ends, and every anchorEvery
// proves the readings whose blocks have been anchored since.
func runSubscriber(ctx context.Context, sub *livesub.Subscriber, n *daemon.Node, broker livesub.Broker, app string, grants []string, anchorEvery time.Duration) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sub.Run(ctx, broker, app, grants) }()
	tick := time.NewTicker(anchorEvery)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			if _, err := sub.CheckAnchored(ctx, n.Ledger, n.Storage); err != nil && ctx.Err() == nil {
				cancel()
				<-done
				return err
			}
		}
	}
}
