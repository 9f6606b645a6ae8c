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
	logging.CaptureStdlib(log)
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
	wait := fs.Bool("wait", false, "wait until the reading asked for is anchored, instead of proving the newest one that is")
	timeout := fs.Duration("timeout", time.Minute, "with --wait: how long to wait")
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
	if *timeout <= 0 {
		return fmt.Errorf("%w: --timeout must be positive", errUsage)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	q := verifyQuery{seq: *seq, device: *device, point: *point, at: time.Now()}
	if *at != "" {
		if q.at, err = time.Parse(time.RFC3339Nano, *at); err != nil {
			return fmt.Errorf("%w: --at: %v", errUsage, err)
		}
	}
	if *wait {
		return verifyWaiting(ctx, cfg, q, *timeout, stdout)
	}
	n, err := daemon.Open(cfg, slog.New(slog.DiscardHandler), true)
	if err != nil {
		return err
	}
	defer n.Close()
	if q.seq == 0 {
		if q.seq, err = newestProvable(n, q, stdout); err != nil {
			return err
		}
	}
	v := &verify.Verifier{Store: n.Store, Ledger: n.Ledger, Storage: n.Storage, Key: n.Owner}
	return printReport(v.Reading(ctx, q.seq), stdout)
}

// verifyQuery is the reading verify is asked for: seq, or the newest
// reading of device/point at or before at.
type verifyQuery struct {
	seq           uint64
	device, point string
	at            time.Time
}

// newestProvable returns the newest reading of the point that can be
// proven (its block anchored) and says so when a newer one is still on
// its way to the ledger.
func newestProvable(n *daemon.Node, q verifyQuery, stdout io.Writer) (uint64, error) {
	c, err := verify.Newest(n.Store, q.device, q.point, q.at.UnixNano())
	if err != nil {
		return 0, err
	}
	if c.Seq == 0 {
		return 0, fmt.Errorf("%s/%s: %s, and no earlier reading of it is anchored yet; --wait waits for reading %d", q.device, q.point, c.Why, c.Asked)
	}
	if c.Seq != c.Asked {
		fmt.Fprintf(stdout, "%s/%s: %s; proving reading %d, its newest reading in an anchored block (--wait waits for reading %d)\n", q.device, q.point, c.Why, c.Seq, c.Asked)
	}
	return c.Seq, nil
}

// verifyWaiting waits until the reading asked for is anchored, saying what
// it waits for, and proves it. A read-only store sees the state as of its
// opening, so the appliance's state is opened again at each look.
func verifyWaiting(ctx context.Context, cfg *config.Config, q verifyQuery, timeout time.Duration, stdout io.Writer) error {
	deadline := time.Now().Add(timeout)
	said := ""
	for {
		n, err := daemon.Open(cfg, slog.New(slog.DiscardHandler), true)
		if err != nil {
			return err
		}
		if q.seq == 0 {
			if q.seq, err = n.Store.FindSeq(q.device, q.point, q.at.UnixNano()); err != nil {
				n.Close()
				return err
			}
		}
		why, err := verify.Pending(n.Store, q.seq)
		if err == nil && why == "" {
			if said != "" {
				fmt.Fprintf(stdout, "reading %d is anchored\n", q.seq)
			}
			v := &verify.Verifier{Store: n.Store, Ledger: n.Ledger, Storage: n.Storage, Key: n.Owner}
			err = printReport(v.Reading(ctx, q.seq), stdout)
			n.Close()
			return err
		}
		n.Close()
		if err != nil {
			return err
		}
		if why != said {
			fmt.Fprintf(stdout, "%s; waiting for it to be anchored (up to %s)\n", why, time.Until(deadline).Round(time.Second))
			said = why
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s after waiting %s: is the appliance running, and its storage and ledger reachable? (its log says)", why, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
