package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/faultline/faultline/harness"
)

// shrinkCmd finds a smaller scenario that still fails.
func shrinkCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("shrink", flag.ContinueOnError)
	fs.SetOutput(stderr)
	store := fs.String("store", "store", "folder that keeps the runs")
	tries := fs.Int("tries", 12, "at most this many runs")
	budget := fs.Duration("budget", 20*time.Minute, "at most this much time")
	if err := parseFlags(fs, args); err != nil {
		return exitError
	}
	if fs.NArg() != 1 {
		return fail(stderr, errors.New("shrink needs the store folder of a failing run, for example: faultline shrink store/latest"))
	}
	dir, err := filepath.EvalSymlinks(fs.Arg(0)) // store/latest moves as shrink runs
	if err != nil {
		return fail(stderr, err)
	}
	res, err := harness.Shrink(ctx, dir, harness.ShrinkOptions{Options: harness.Options{StoreRoot: *store, Log: stderr}, Tries: *tries, Budget: *budget})
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "shrunk in %d runs: %s -> %s\nminimal reproducer: %s\n", res.Tries, res.Before, res.After, res.Path)
	return exitValid
}
