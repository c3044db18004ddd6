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
//	faultline merge STORE...                   combine the stores of a sharded CI job
//
//	faultline version                          the commit and the built-in images
//
// Exit codes: 0 every run as its scenario expects (valid by default), 1 not
// as expected, 2 unknown, 3 could not run, 4 interrupted.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
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
  faultline run [-store DIR] [-junit FILE] [-summary FILE] [-seed N | -seeds LIST] [-shard K/N]
                [-param NAME=VALUE] [-bug NAME] [-nemesis auto|direct|helper] [-clients auto|host|network]
                SCENARIO.yaml|FOLDER ...
                                             run scenarios, check their histories, report
                                             (-seeds 1-5: each scenario under each seed; -shard K/N: the K-th
                                             of N CI jobs' share, combined by faultline merge; -param: one of
                                             the system's params; -bug NAME: -param bug=NAME, refkv's bug to
                                             switch on, none for the correct build; -nemesis helper: faults
                                             applied by a helper container in each node's namespace, chosen
                                             by auto when this process cannot enter them: not root, a remote
                                             engine; -clients network: the clients in a container on the run's
                                             network, chosen by auto when this host does not reach the nodes)
  faultline replay [-store DIR] [-as-written] STORE_DIR
                                             run a stored run again: same seed, same faults at the same offsets,
                                             each as that run resolved it (the node it cut off); -as-written: each
                                             as the scenario wrote it (isolate the leader, found again)
  faultline shrink [-tries N] [-budget D] STORE_DIR
                                             find a smaller scenario that still fails (writes shrunk.yaml)
  faultline validate SCENARIO.yaml|FOLDER ... check scenario files without running them
  faultline list                             fault kinds, workloads, built-in systems, shipped scenarios
  faultline check [-budget D] [-key-budget D] [-first-invalid] [-initial N]
                  [-model register|cas-register|append|set|counter]
                  [-format auto|faultline|jepsen-edn|jepsen-log] [-jepsen-nil unknown|absent]
                  [-expect G,G,...] [-staleness-bound D] [-out DIR] [-store DIR] STORE_DIR|HISTORY
                                             re-check a stored run, or a Jepsen history, offline
  faultline images                           build the built-in systems' images
  faultline clean [-all]                     heal and remove what killed runs left (runs in progress are kept)
  faultline merge [-junit FILE] [-summary FILE] [-index FILE] STORE ...
                                             combine the stores of a sharded job (run -shard K/N): one JUnit
                                             file, one summary, one index page of every run

  faultline version                           faultline's commit and the built-in systems' images

exit codes: 0 every run showed what its scenario expects (valid unless it says expected: invalid,
            or guarantees), 1 a run did not, 2 unknown (checker budget spent), 3 could not run,
            4 interrupted (SIGINT/SIGTERM: healed, removed, recorded history checked and kept)
flags may come before or after the files; -h after a command prints its part of this text
`

func main() {
	ctx := context.Background()
	if len(os.Args) > 1 && slices.Contains(graceful, os.Args[1]) {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		// The first Ctrl-C heals, tears down and reports; a second one is
		// not caught any more and stops faultline at once (`faultline
		// clean` then removes what is left).
		go func() { <-ctx.Done(); stop() }()
	}
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// graceful are the commands that catch SIGINT and SIGTERM to heal and
// tear down what they started, and report what they recorded. Every other
// command (check, validate, list, merge, ...) starts nothing and holds
// nothing to undo: it leaves the signals alone, so that either stops it at
// once, whatever it is reading or checking.
var graceful = []string{"run", "replay", "shrink", "helper", "clients"}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError
	}
	cmds := map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) int{
		"run": runCmd, "replay": replayCmd, "shrink": shrinkCmd, "validate": validateCmd,
		"list": listCmd, "check": checkCmd, "images": imagesCmd, "clean": cleanCmd, "version": versionCmd,
		"merge": mergeCmd, "helper": helperCmd, "clients": clientsCmd,
	}
	if f, ok := cmds[args[0]]; ok {
		if slices.ContainsFunc(args[1:], isHelp) {
			fmt.Fprint(stdout, commandUsage(args[0]))
			return exitValid
		}
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

func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// commandUsage is the part of usage about one command, and the exit codes.
func commandUsage(name string) string {
	var out []string
	in := false
	for _, l := range strings.Split(usage, "\n") {
		if strings.HasPrefix(l, "  faultline ") {
			in = strings.HasPrefix(l, "  faultline "+name+" ") || l == "  faultline "+name
		}
		if strings.HasPrefix(l, "exit codes") {
			in = true
		}
		if in {
			out = append(out, l)
		}
	}
	return "usage:\n" + strings.Join(out, "\n")
}

// parseFlags parses flags wherever they are among the arguments: the
// positional ones are left as fs.Args(), in order.
func parseFlags(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" || len(pos) > 0 && pos[len(pos)-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	pos = slices.DeleteFunc(pos, func(a string) bool { return a == "--" })
	return fs.Parse(append([]string{"--"}, pos...))
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
