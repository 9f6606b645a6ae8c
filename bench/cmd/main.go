// Command bench prints the bridge's speed and cost on this machine, each
// figure beside a baseline measured in the same run (see package bench and
// docs/BENCHMARKS.md). `wotchain bench` runs the same code.
//
//	go run ./bench/cmd                          # every stage but the memory load
//	go run ./bench/cmd --stages load            # 10 minutes of 10,000 points a second
//	go run ./bench/cmd --quick --stages load,ingest,seal,ledger,modbus,e2e   # a quick check
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/wotchain/wotchain/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := bench.DefaultOptions()
	opts.Progress = os.Stderr
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	opts.RegisterFlags(fs)
	fs.Parse(os.Args[1:])
	if err := bench.Run(ctx, opts, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
