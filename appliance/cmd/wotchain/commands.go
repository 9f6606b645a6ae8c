package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/wotchain/wotchain/appliance/config"
	"github.com/wotchain/wotchain/appliance/daemon"
	"github.com/wotchain/wotchain/appliance/logging"
	"github.com/wotchain/wotchain/bridge/keys"
	"github.com/wotchain/wotchain/bridge/verify"
)

// errFailed means the command ran and reported a failure itself.
var errFailed = errors.New("failed")

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: --config is required", errUsage)
	}
	return config.Load(path)
}

// parseConfig parses args and loads the configuration that path names.
func parseConfig(fs *flag.FlagSet, args []string, path *string) (*config.Config, error) {
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	return loadConfig(*path)
}

// parseView parses args and opens a view of the configuration that path
// names.
func parseView(fs *flag.FlagSet, args []string, path *string) (*daemon.Node, error) {
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	return openView(*path)
}

func loadViewConfig(path string) (*config.Config, error) { return config.LoadView(path) }

func newLogger(cfg *config.Config, w io.Writer) (*slog.Logger, error) {
	return logging.New(w, string(cfg.Log.Format), string(cfg.Log.Level), cfg.Log.Components)
}

func cmdRun(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("run")
	path := fs.String("config", "", "configuration file")
	cfg, err := parseConfig(fs, args, path)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		return err
	}
	return daemon.Run(ctx, cfg, log)
}

func cmdCheck(args []string, stdout io.Writer) error {
	fs := newFlags("check")
	path := fs.String("config", "", "configuration file")
	cfg, err := parseConfig(fs, args, path)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: OK (appliance %s, %d devices)\n", *path, cfg.Appliance.ID, len(cfg.Devices))
	return describeHTTP(cfg, stdout)
}

func cmdKeygen(args []string, stdout io.Writer) error {
	fs := newFlags("keygen")
	out := fs.String("out", "", "private key file to write (0600)")
	kind := fs.String("kind", "signing", "signing (Ed25519 appliance key) or recipient (HPKE key)")
	kemName := fs.String("kem", "x25519", "recipient KEM: x25519 or mlkem768-x25519")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("%w: --out is required", errUsage)
	}
	switch *kind {
	case "signing":
		priv, err := keys.GenerateSigning(*out)
		if err != nil {
			return err
		}
		pemPub, err := keys.EncodeSigningPublic(priv.Public().(ed25519.PublicKey))
		if err != nil {
			return err
		}
		if err := os.WriteFile(*out+".pub", pemPub, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s (0600) and %s\n%s", *out, *out+".pub", pemPub)
	case "recipient":
		kem, err := keys.KEMByName(*kemName)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		priv, err := keys.GenerateRecipient(*out, kem)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s (0600) and %s (key id %s)\n%s", *out, *out+".pub", keys.KeyID(priv.PublicKey()), keys.EncodeRecipientPublic(priv.PublicKey()))
	default:
		return fmt.Errorf("%w: --kind must be signing or recipient", errUsage)
	}
	return nil
}

func cmdVerify(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("verify")
	path := fs.String("config", "", "configuration file")
	seq := fs.Uint64("seq", 0, "reading sequence number")
	device := fs.String("device", "", "device id")
	point := fs.String("point", "", "point name")
	at := fs.String("at", "", "time (RFC 3339); the reading at or just before it; default now")
	fetched := fs.String("fetched", "", "partner mode: directory written by wotchain fetch")
	blockID := fs.String("block", "", "partner mode: block id of the fetched block")
	keyPath := fs.String("key", "", "partner mode: your recipient private key")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *fetched != "" {
		if *blockID == "" || *keyPath == "" || *seq == 0 {
			return fmt.Errorf("%w: --fetched needs --block, --key and --seq", errUsage)
		}
		return cmdVerifyFetched(ctx, *path, *fetched, *blockID, *keyPath, *seq, stdout)
	}
	if (*seq == 0) == (*device == "" || *point == "") {
		return fmt.Errorf("%w: give either --seq or --device and --point", errUsage)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	n, err := daemon.Open(cfg, slog.New(slog.DiscardHandler), true)
	if err != nil {
		return err
	}
	defer n.Close()
	if *seq == 0 {
		t := time.Now()
		if *at != "" {
			if t, err = time.Parse(time.RFC3339Nano, *at); err != nil {
				return fmt.Errorf("%w: --at: %v", errUsage, err)
			}
		}
		if *seq, err = n.Store.FindSeq(*device, *point, t.UnixNano()); err != nil {
			return err
		}
	}
	v := &verify.Verifier{Store: n.Store, Ledger: n.Ledger, Storage: n.Storage, Key: n.Owner}
	return printReport(v.Reading(ctx, *seq), stdout)
}
