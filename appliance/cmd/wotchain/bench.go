package main

import (
	"context"
	"io"
	"os"

	"github.com/wotchain/wotchain/bench"
)

// cmdBench measures this machine for sizing an installation and prints the
// table of docs/BENCHMARKS.md (stages, flags: see `wotchain bench -h`).
func cmdBench(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("bench")
	opts := bench.DefaultOptions()
	opts.Progress = os.Stderr
	opts.RegisterFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	return bench.Run(ctx, opts, stdout)
}
