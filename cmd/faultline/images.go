package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/faultline/faultline/harness"
)

// imagesCmd builds the built-in systems' images.
func imagesCmd(ctx context.Context, _ []string, stdout, stderr io.Writer) int {
	tags, err := harness.EnsureImages(ctx, stderr)
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "images ready: %s\n", strings.Join(tags, ", "))
	return exitValid
}
