package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/workloads/clients"
)

// helperCmd is what a helper container runs (docs/design.md, decision
// 13), not a command for people: `faultline helper` serves the nemesis of
// the node whose network namespace the container shares, on standard input
// and output, until its input ends (then it heals and exits); `faultline
// helper -probe` prints, as JSON, what the kernel can do, tried in the
// container's own namespace; `faultline helper -clean` removes faultline's
// table and qdisc from the namespace it shares (`faultline clean` of an
// attached run, where the controller cannot enter it).
func helperCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("helper", flag.ContinueOnError)
	fs.SetOutput(stderr)
	probe := fs.Bool("probe", false, "print what the kernel can do, as JSON, and exit")
	clean := fs.Bool("clean", false, "remove faultline's table and qdisc from this namespace, say so, and exit")
	if err := parseFlags(fs, args); err != nil {
		return exitError
	}
	if *probe {
		caps, err := nemesis.ProbeHere()
		if err != nil {
			return fail(stderr, err)
		}
		if err := json.NewEncoder(stdout).Encode(caps); err != nil {
			return fail(stderr, err)
		}
		return exitValid
	}
	if *clean {
		if err := nemesis.CleanNamespace(nemesis.SelfNS); err != nil {
			return fail(stderr, err)
		}
		fmt.Fprintln(stdout, "clean")
		return exitValid
	}
	// Stopped (SIGTERM), the helper heals as when its input ends.
	go func() { <-ctx.Done(); _ = os.Stdin.Close() }() // ends Serve's input; the process exits next
	if err := nemesis.Serve(ctx, os.Stdin, stdout, nemesis.SelfAgent); err != nil {
		return fail(stderr, err)
	}
	return exitValid
}

// clientsCmd is what a run's client container runs (docs/design.md,
// decision 13), not a command for people: `faultline clients` serves the
// run's clients, checks and leader questions from inside the run's
// network, on standard input and output, until its input ends.
func clientsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	go func() { <-ctx.Done(); _ = os.Stdin.Close() }() // ends the relay's input; the process exits next
	if err := clients.ServeRelay(ctx, os.Stdin, stdout); err != nil {
		return fail(stderr, err)
	}
	return exitValid
}
