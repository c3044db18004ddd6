package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/harness"
)

// listCmd prints what a scenario may name, and the shipped scenarios.
func listCmd(_ context.Context, _ []string, stdout, _ io.Writer) int {
	printList(stdout, harness.List())
	return exitValid
}

func guaranteeNames(gs []checker.Guarantee) string {
	var out []string
	for _, g := range gs {
		out = append(out, string(g))
	}
	return strings.Join(out, ", ")
}

func printList(w io.Writer, l harness.Listing) {
	fmt.Fprintln(w, "fault kinds (nemesis.faults[].kind; docs/faults.md):")
	for _, k := range l.Faults {
		fmt.Fprintf(w, "  %-16s %s\n", k.Name, k.Doc)
	}
	fmt.Fprintln(w, "  (partitions also take direction, ports, protocols, action: drop|reject, flap)")
	fmt.Fprintln(w, "workloads (workload.kind; docs/adapters.md):")
	for _, k := range l.Workloads {
		fmt.Fprintf(w, "  %-16s %s\n", k.Name, k.Doc)
		fmt.Fprintf(w, "  %-16s   examines %s\n", "", guaranteeNames(k.Checks.Examines()))
	}
	fmt.Fprintln(w, "guarantees (checker.expect, strongest first; docs/checker.md):")
	for _, g := range checker.Guarantees() {
		fmt.Fprintf(w, "  %-20s %s\n", g, g.Doc())
	}
	fmt.Fprintln(w, "systems (cluster.system: a name below, a system file, or inline; docs/systems.md):")
	for _, d := range l.Systems {
		fmt.Fprintf(w, "  %-16s %s; image %s\n", d.Name, d.Description, d.Image)
		for _, k := range d.ParamNames() {
			p := d.Params[k]
			fmt.Fprintf(w, "  %-16s   cluster.params.%s (default %s): %s\n", "", k, p.Default, strings.Join(p.Values, ", "))
		}
	}
	for name, err := range l.SystemErrors {
		fmt.Fprintf(w, "  %-16s (%v)\n", name, err)
	}
	fmt.Fprintln(w, "shipped scenarios:")
	if l.ScenariosErr != nil {
		fmt.Fprintf(w, "  (not found: %v)\n", l.ScenariosErr)
	}
	for _, s := range l.Scenarios {
		fmt.Fprintf(w, "  %-56s %s\n", s.Path, s.Description)
	}
}
