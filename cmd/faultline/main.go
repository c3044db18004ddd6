// Command faultline runs network-partition scenarios against a cluster in
// Docker (any system its system file describes) and checks the recorded
// history.
//
//	faultline run [-store DIR] [-junit F] [-summary F] [-seed N] [-param K=V] SCENARIO|FOLDER...   run, check, report
//	faultline replay STORE_DIR                 run a stored run again
//	faultline shrink STORE_DIR                 find a smaller scenario that still fails
//	faultline validate SCENARIO|FOLDER...      check scenario files (and the system files they name)
//	faultline list                             fault kinds, workloads, built-in systems, shipped scenarios
//	faultline check STORE_DIR|HISTORY          re-check a stored run or a Jepsen history offline
//	faultline images                           build the built-in systems' images
//	faultline clean [-all]                     heal and remove what killed runs left
//
// Exit codes: 0 valid, 1 invalid, 2 unknown, 3 could not run, 4 interrupted.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/faultline/faultline/checker"
)

// Exit codes.
const (
	exitValid   = 0
	exitInvalid = 1
	exitUnknown = 2
	exitError   = 3
	// exitInterrupted: stopped by SIGINT or SIGTERM; faults healed, cluster
	// removed, what was recorded checked and kept.
	exitInterrupted = 4
)

const usage = `usage:
  faultline run [-store DIR] [-junit FILE] [-summary FILE] [-seed N] [-param NAME=VALUE] [-bug NAME]
                SCENARIO.yaml|FOLDER ...    run scenarios, check their histories, report
                                             (-param: one of the system's params; -bug NAME: -param bug=NAME,
                                             refkv's bug to switch on, none for the correct build)
  faultline replay [-store DIR] STORE_DIR     run a stored run again: same seed, same faults at the same offsets
  faultline shrink [-tries N] [-budget D] STORE_DIR
                                             find a smaller scenario that still fails (writes shrunk.yaml)
  faultline validate SCENARIO.yaml|FOLDER ... check scenario files without running them
  faultline list                             fault kinds, workloads, built-in systems, shipped scenarios
  faultline check [-budget D] [-key-budget D] [-first-invalid] [-initial N]
                  [-model register|cas-register|append|set|counter]
                  [-format auto|faultline|jepsen-edn|jepsen-log] [-jepsen-nil unknown|absent]
                  [-expect G,G,...] [-staleness-bound D] STORE_DIR|HISTORY
                                             re-check a stored run, or a Jepsen history, offline
  faultline images                           build the built-in systems' images
  faultline clean [-all]                     heal and remove what killed runs left (runs in progress are kept)

exit codes: 0 valid, 1 invalid, 2 unknown (checker budget spent), 3 could not run,
            4 interrupted (SIGINT/SIGTERM: healed, removed, recorded history checked and kept)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first Ctrl-C heals, tears down and reports; a second one is not
	// caught any more and stops faultline at once (`faultline clean` then
	// removes what is left).
	go func() { <-ctx.Done(); stop() }()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError
	}
	cmds := map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) int{
		"run": runCmd, "replay": replayCmd, "shrink": shrinkCmd, "validate": validateCmd,
		"list": listCmd, "check": checkCmd, "images": imagesCmd, "clean": cleanCmd,
	}
	if f, ok := cmds[args[0]]; ok {
		return f(ctx, args[1:], stdout, stderr)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "faultline: unknown command %q\n%s", args[0], usage)
	return exitError
}

// fail reports an error that stopped a subcommand: exit 3.
func fail(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "faultline: %v\n", err)
	return exitError
}

func exitCode(v checker.Verdict) int {
	switch v {
	case checker.Valid:
		return exitValid
	case checker.Invalid:
		return exitInvalid
	}
	return exitUnknown
}

func ms(v int64) float64 { return float64(v) / 1000 }

// plural writes "1 fault", "3 faults".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
