// Command fabricnet runs WoTChain's local Fabric network (see package
// fabric/network): two organisations, one raft orderer, the WoTChain
// chaincode as a service.
//
//	fabricnet up     [-dir D] [-cache C] [-v]  build Fabric if needed, start the network (or reuse the
//	                                           healthy one already running in D), print its description
//	fabricnet down   [-dir D] [-keep]          stop it (and delete D unless -keep)
//	fabricnet status [-dir D]                  list its processes and whether they run
//	fabricnet binaries [-cache C]              only build Fabric's binaries (CI does this before the tests)
//
// D defaults to fabric/.network in the module (run from the repository root).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/wotchain/wotchain/fabric/netdesc"
	"github.com/wotchain/wotchain/fabric/network"
)

const defaultDir = "fabric/.network"

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "up":
		err = up(ctx, os.Args[2:])
	case "down":
		err = down(ctx, os.Args[2:])
	case "status":
		err = status(os.Args[2:])
	case "binaries":
		err = binaries(ctx, os.Args[2:])
	case "-h", "-help", "--help", "help":
		usage()
		return
	default:
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fabricnet:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: fabricnet up|down|status|binaries [-dir DIR] (see `go doc ./fabric/cmd/fabricnet`)")
}

func setupLog(verbose bool) {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
}

func up(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("up", flag.ExitOnError)
	dir := fs.String("dir", defaultDir, "network directory")
	cache := fs.String("cache", "", "Fabric binary cache (default $XDG_CACHE_HOME/wotchain or ~/.cache/wotchain)")
	verbose := fs.Bool("v", false, "debug logging")
	fs.Parse(args)
	setupLog(*verbose)
	// A network already running there (`make fabric-up` before `make
	// demo-fabric`) is reused when healthy; Up says so.
	n, err := network.Up(ctx, network.Options{Dir: *dir, CacheDir: *cache, Reuse: true})
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(n)
}

func binaries(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("binaries", flag.ExitOnError)
	cache := fs.String("cache", "", "Fabric binary cache (default $XDG_CACHE_HOME/wotchain or ~/.cache/wotchain)")
	fs.Parse(args)
	setupLog(false)
	b, err := network.EnsureBinaries(ctx, *cache)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(b)
}

func down(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("down", flag.ExitOnError)
	dir := fs.String("dir", defaultDir, "network directory")
	keep := fs.Bool("keep", false, "keep the directory (logs, ledgers) after stopping")
	fs.Parse(args)
	setupLog(false)
	return network.Down(ctx, *dir, !*keep)
}

func status(args []string) error {
	fs := flag.NewFlagSet("status", flag.ExitOnError)
	dir := fs.String("dir", defaultDir, "network directory")
	fs.Parse(args)
	procs, err := network.Status(*dir)
	if err != nil {
		return err
	}
	if len(procs) == 0 {
		fmt.Println("no network in", *dir)
		return nil
	}
	down := 0
	for _, p := range procs {
		state := "running"
		if !p.Running {
			state = "stopped"
			down++
		}
		fmt.Printf("%-32s pid %-8d %s\n", p.Name, p.PID, state)
	}
	if n, err := netdesc.Load(*dir); err == nil {
		for _, o := range n.Orgs {
			fmt.Printf("%-16s peer %s (TLS CA %s)\n", o.MSPID, o.Peer.Address, o.Peer.TLSCAFile)
		}
		fmt.Printf("orderer          %s, channel %s, chaincode %s\n", n.Orderer.Address, n.Channel, n.Chaincode)
	}
	if down > 0 {
		return errors.New("some processes are not running")
	}
	return nil
}
