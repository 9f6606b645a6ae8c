// Command wotchain is the appliance daemon and its command-line tools.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/wotchain/wotchain/appliance/daemon"
)

const usage = `wotchain: WoTChain bridge appliance

Usage:
  wotchain run     --config FILE                 run the appliance
  wotchain check   --config FILE                 validate a configuration and exit
  wotchain keygen  --out FILE [--kind signing|recipient] [--kem x25519|mlkem768-x25519]
                                                 write a new key (0600) and print its public key
  wotchain verify  --config FILE (--seq N | --device ID --point NAME [--at TIME]) [--wait [--timeout 1m]]
                                                 prove one reading end to end; exit 1 if any check fails.
                                                 A point's newest reading that is anchored, or with --wait
                                                 the newest one, once anchored
  wotchain gaps    --config FILE --device ID [--from TIME] [--to TIME] [--min DURATION] [--json]
                                                 stretches without readings and the signed status records explaining them

HTTP users (see README "HTTPS and users"; the password from a terminal prompt or one line of stdin):
  wotchain user add|passwd|remove --config FILE NAME [--role viewer|admin]
  wotchain user token --config FILE NAME [--role viewer|admin]
                      a new API token (bearer) for NAME, shown once; a new NAME is a token-only user
  wotchain user list  --config FILE

Sizing:
  wotchain bench   [--stages ...] [--quick] [--dir DIR]  measure this machine (docs/BENCHMARKS.md)

Devices:
  wotchain browse  opcua://host:port [--config FILE --device ID] [--root NODE] [--depth N] [--uris]
                                                 list an OPC UA server's nodes to write a config
  wotchain scan    modbus URL [--units 1-10,17] [--tables holding,input,coil,discrete] [--start N] [--count N]
                                                 probe a Modbus port for unit ids and registers

Licensing (data owner; on the embedded ledger, with the appliance stopped):
  wotchain grant   --config FILE --id ID --partner-msp MSP --partner-key FILE.pub
                   --from TIME --to TIME [--devices a,b]
  wotchain revoke  --config FILE --id ID
  wotchain grants  --config FILE

Fabric:
  wotchain register   --config FILE [--as Admin | --admin-msp-dir DIR]
                      register the appliance's key and anchoring identity (manufacturer admin)

Keys (the appliance stopped; on Fabric as the manufacturer admin):
  wotchain rotate-key --config FILE [--as Admin | --admin-msp-dir DIR]
                      seal pending readings under the current key, register a new key from the
                      next block, keep the old one as keys/retired/<key id>.key
  wotchain revoke-key --config FILE --key-id ID --compromised-at TIME [--reason TEXT] [--force]
                      [--as Admin | --admin-msp-dir DIR]
                      refuse blocks signed by the key and anchored from TIME on, and re-seal the
                      blocks it had not anchored under the current key (docs/OPERATIONS.md:
                      rotate first, then revoke)

Partners:
  wotchain provenance --config FILE --device ID [--from TIME] [--to TIME] [--json]
  wotchain follow     --config FILE [--checkpoint FILE]   stream new credentials, resuming after a restart
  wotchain fetch   --config FILE (--block ID | --device ID --from TIME --to TIME) --key FILE --out DIR
  wotchain decrypt --key FILE --in DIR/BLOCK.block         print the block's readings as JSON lines
  wotchain subscribe --config FILE --key FILE [--appliance ID] [--grant ID] [--out FILE] [--state FILE]
                                                           a partner's live streams: decrypted, poll signatures
                                                           checked, as JSON lines; resumes without loss or repeats
  wotchain verify  --config FILE --fetched DIR --block ID --key FILE --seq N
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks a command-line mistake (exit 2).
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(ctx, args[1:], stderr)
	case "check":
		err = cmdCheck(args[1:], stdout)
	case "user":
		err = cmdUser(args[1:], userIO{stdin: os.Stdin, stdout: stdout, stderr: stderr})
	case "keygen":
		err = cmdKeygen(args[1:], stdout)
	case "verify":
		err = cmdVerify(ctx, args[1:], stdout)
	case "gaps":
		err = cmdGaps(args[1:], stdout)
	case "grant":
		err = cmdGrant(ctx, args[1:], stdout)
	case "revoke":
		err = cmdRevoke(ctx, args[1:], stdout)
	case "grants":
		err = cmdGrants(ctx, args[1:], stdout)
	case "bench":
		err = cmdBench(ctx, args[1:], stdout)
	case "browse":
		err = cmdBrowse(ctx, args[1:], stdout)
	case "scan":
		err = cmdScan(ctx, args[1:], stdout)
	case "register":
		err = cmdRegister(ctx, args[1:], stdout)
	case "rotate-key":
		err = cmdRotateKey(ctx, args[1:], stdout, stderr)
	case "revoke-key":
		err = cmdRevokeKey(ctx, args[1:], stdout, stderr)
	case "provenance":
		err = cmdProvenance(ctx, args[1:], stdout)
	case "follow":
		err = cmdFollow(ctx, args[1:], stdout)
	case "fetch":
		err = cmdFetch(ctx, args[1:], stdout)
	case "decrypt":
		err = cmdDecrypt(args[1:], stdout)
	case "subscribe":
		err = cmdSubscribe(ctx, args[1:], stdout)
	case daemon.AgentCommand:
		// One isolated device, started by the appliance, never by hand. It
		// ignores the terminal's and systemd's stop signals: the appliance
		// stops it after a last poll, and the kernel ends it if the
		// appliance dies.
		signal.Ignore(os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
		err = daemon.ServeAgent(context.Background(), os.Stdin, os.Stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "wotchain: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "wotchain %s: %v\n", args[0], err)
		return 2
	case errors.Is(err, errFailed):
		return 1
	}
	fmt.Fprintf(stderr, "wotchain %s: %v\n", args[0], err)
	return 1
}
