package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/faultline/faultline/harness"
)

// cleanCmd heals and removes what killed runs left.
func cleanCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("clean", flag.ContinueOnError)
	fs.SetOutput(stderr)
	all := fs.Bool("all", false, "also remove runs whose harness is still running, or cannot be told (another host)")
	if err := parseFlags(fs, args); err != nil {
		return exitError
	}
	removed, err := harness.Clean(ctx, *all, stdout)
	fmt.Fprintf(stdout, "clean: %d objects removed\n", removed)
	if err != nil {
		return fail(stderr, err)
	}
	return exitValid
}
