package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/livesub"
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
	a, err := n.Ledger.Appliance(ctx, *app)
	if err != nil {
		return fmt.Errorf("appliance %s: %w", *app, err)
	}
	appKeys := []ed25519.PublicKey{a.PublicKey}
	for _, k := range a.Keys {
		appKeys = append(appKeys, k.PublicKey)
	}
	grants := []string{*grant}
	if *grant == "" {
		kid := keys.KeyID(priv.PublicKey())
		if grants, err = (&partnerGrants{ledger: n.Ledger, kid: kid}).ids(ctx, *app); err != nil {
			return err
		}
		if len(grants) == 0 {
			return fmt.Errorf("no grant of appliance %s is for key %s", *app, kid)
		}
	}
	out := stdout
	if *statePath == "" {
		*statePath = "subscribe.state"
	}
	var outFile *os.File
	if *outPath != "" {
		if *statePath == "subscribe.state" {
			*statePath = *outPath + ".state"
		}
		if outFile, err = os.OpenFile(*outPath, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o640); err != nil {
			return err
		}
		defer outFile.Close()
		out = outFile
	}
	sub, err := livesub.New(priv, appKeys, grants, *statePath, out)
	if err != nil {
		return err
	}
	if outFile != nil {
		if err := sub.Resume(outFile); err != nil {
			return err
		}
	}
	broker := livesub.Broker{URL: n.Cfg.MQTT.Broker, ClientID: n.Cfg.MQTT.ClientID, Username: n.Cfg.MQTT.Username,
		Password: mqttPassword(n.Cfg.MQTT.PasswordFile, n.Cfg.MQTT.PasswordEnv)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sub.Run(ctx, broker, *app, grants) }()
	// Once a reading's block is anchored, prove the reading in it.
	tick := time.NewTicker(*anchorEvery)
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

func mqttPassword(file, env string) string {
	if env != "" {
		return os.Getenv(env)
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err == nil {
			return string(trimNewline(b))
		}
	}
	return ""
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
