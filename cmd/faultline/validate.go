package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/faultline/faultline/scenarios"
)

// validateCmd checks scenario files (and the system files they name)
// without running them.
func validateCmd(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) < 1 {
		return fail(stderr, errors.New("validate needs scenario files or folders"))
	}
	files, err := scenarioFiles(args)
	if err != nil {
		return fail(stderr, err)
	}
	code := exitValid
	for _, f := range files {
		sc, err := scenarios.Load(f)
		if err != nil {
			fmt.Fprintf(stderr, "faultline: %v\n", err)
			code = exitError
			continue
		}
		printWarnings(stderr, sc)
		expects := ""
		if sc.Expected != nil {
			expects = ", expects " + sc.Expectation().String()
		}
		fmt.Fprintf(stdout, "ok: %s: %d-node %s from %s, %s workload, %s, %v%s\n", f, len(sc.NodeNames()), sc.Cluster.Def.Name, sc.SystemSource(), sc.Workload.Kind, plural(len(sc.Nemesis.Faults)+len(sc.Nemesis.Timeline), "fault"), sc.TimeLimit, expects)
	}
	return code
}
