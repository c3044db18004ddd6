package main

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/scenarios"
	"github.com/faultline/faultline/systems"
)

// outcome is one scenario's run, for the CI outputs.
type outcome struct {
	name string
	rep  harness.Report
	err  error
}

func (o outcome) code() int {
	if errors.Is(o.err, harness.ErrInterrupted) {
		return exitInterrupted
	}
	if o.err != nil {
		return exitError
	}
	return exitCode(o.rep.Verdict)
}

// worst is the exit code of several runs: could not run, then invalid,
// then unknown, then valid.
func worst(outs []outcome) int {
	code := exitValid
	rank := map[int]int{exitValid: 0, exitUnknown: 1, exitInvalid: 2, exitError: 3, exitInterrupted: 4}
	for _, o := range outs {
		if rank[o.code()] > rank[code] {
			code = o.code()
		}
	}
	return code
}

// scenarioFiles expands the arguments: a file is itself, a folder is every
// *.yaml in it, sorted.
func scenarioFiles(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			files = append(files, a)
			continue
		}
		matches, err := filepath.Glob(filepath.Join(a, "*.yaml"))
		if err != nil {
			return nil, err
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("%s: no *.yaml scenarios in this folder", a)
		}
		slices.Sort(matches)
		files = append(files, matches...)
	}
	return files, nil
}

// loadAll loads every scenario and reports every one that is invalid, so a
// CI job learns about all its broken files at once.
func loadAll(files []string, stderr io.Writer) ([]*scenarios.Scenario, error) {
	var out []*scenarios.Scenario
	var bad int
	for _, f := range files {
		sc, err := scenarios.Load(f)
		if err != nil {
			fmt.Fprintf(stderr, "faultline: %v\n", err)
			bad++
			continue
		}
		out = append(out, sc)
	}
	if bad > 0 {
		return nil, fmt.Errorf("%d of %d scenarios are invalid; nothing was run", bad, len(files))
	}
	return out, nil
}

// JUnit XML, as CI systems read it: one test case per scenario.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Time     float64     `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      float64       `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// writeJUnit writes one test case per scenario: a failure for invalid (the
// message is the anomaly's explanation) and unknown, an error for a run
// that could not be carried out.
func writeJUnit(path string, outs []outcome) error {
	suite := junitSuite{Name: "faultline", Tests: len(outs)}
	for _, o := range outs {
		c := junitCase{Name: o.name, Classname: "faultline." + o.name, Time: ms(o.rep.Timings.TotalMS)}
		if o.rep.StoreDir != "" {
			c.SystemOut = "store: " + o.rep.StoreDir
		}
		switch {
		case o.err != nil:
			c.Error = &junitProblem{Message: o.err.Error(), Type: "could-not-run", Text: o.err.Error()}
			suite.Errors++
		case o.rep.Verdict == checker.Invalid:
			msg, text := explainInvalid(o.rep.Result)
			c.Failure = &junitProblem{Message: msg, Type: "invalid", Text: text}
			suite.Failures++
		case o.rep.Verdict == checker.Unknown:
			msg := "verdict unknown: the checker could not decide within its budget"
			if o.rep.Note != "" {
				msg = "verdict unknown: " + o.rep.Note
			}
			c.Failure = &junitProblem{Message: msg, Type: "unknown", Text: msg}
			suite.Failures++
		}
		suite.Time += c.Time
		suite.Cases = append(suite.Cases, c)
	}
	b, err := xml.MarshalIndent(junitSuites{Suites: []junitSuite{suite}}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append([]byte(xml.Header), append(b, '\n')...), 0o644)
}

// explainInvalid is the one-line message and the full text of an invalid
// verdict: the first invalid key's explanation or anomalies.
func explainInvalid(res checker.Result) (string, string) {
	var lines []string
	msg := "not linearizable"
	for _, k := range res.Keys {
		if k.Verdict != checker.Invalid {
			continue
		}
		head := fmt.Sprintf("key %s", k.Key)
		switch {
		case k.Explanation != nil:
			if len(lines) == 0 {
				msg = head + ": cannot linearize " + k.Explanation.Operation.String()
			}
			lines = append(lines, head+":", k.Explanation.String())
		case len(k.Anomalies) > 0:
			if len(lines) == 0 {
				msg = head + ": " + k.Anomalies[0]
			}
			lines = append(lines, head+":")
			lines = append(lines, k.Anomalies...)
		}
	}
	return msg, strings.Join(lines, "\n")
}

// writeSummary writes a Markdown summary for a CI job's page.
func writeSummary(path string, outs []outcome) error {
	var b strings.Builder
	bad := 0
	for _, o := range outs {
		if o.code() != exitValid {
			bad++
		}
	}
	fmt.Fprintf(&b, "## faultline: %d scenarios, %d not valid\n\n", len(outs), bad)
	b.WriteString("| scenario | verdict | ok / fail / info | faults | time | store |\n|---|---|---|---|---|---|\n")
	for _, o := range outs {
		verdict := "**" + strings.ToUpper(string(o.rep.Verdict)) + "**"
		if o.rep.Verdict == checker.Valid {
			verdict = "valid"
		}
		if o.err != nil {
			verdict = "**COULD NOT RUN**"
		}
		c := o.rep.Counts
		fmt.Fprintf(&b, "| %s | %s | %d / %d / %d | %d | %.1f s | `%s` |\n", o.name, verdict, c.OK, c.Fail, c.Info, c.Faults, ms(o.rep.Timings.TotalMS), o.rep.StoreDir)
	}
	for _, o := range outs {
		switch {
		case o.err != nil:
			fmt.Fprintf(&b, "\n### %s: could not run\n\n```\n%v\n```\n", o.name, o.err)
		case o.rep.Verdict == checker.Invalid:
			_, text := explainInvalid(o.rep.Result)
			fmt.Fprintf(&b, "\n### %s: invalid\n\n```\n%s\n```\n", o.name, text)
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

var errNoScenario = errors.New("run needs scenario files or folders, for example: faultline run " + scenarios.Default)

// printList prints what a scenario may name, and the shipped scenarios.
func printList(w io.Writer) {
	type item struct{ name, what string }
	list := func(title string, items []item) {
		fmt.Fprintln(w, title)
		for _, it := range items {
			fmt.Fprintf(w, "  %-16s %s\n", it.name, it.what)
		}
	}
	list("fault kinds (nemesis.faults[].kind; docs/faults.md):", []item{
		{"isolate", "one node (named, random or the leader) cut off from the others"},
		{"halves", "a random minority cut off from the majority"},
		{"majorities-ring", "every node sees a different majority (4+ nodes)"},
		{"bridge", "two halves joined by one node that sees both"},
		{"one-way", "from's packets to to are dropped, the other way works"},
		{"custom", "an explicit grudge: node -> nodes whose packets it drops"},
		{"gray", "loss, correlation, delay, jitter, duplicate, reorder, corrupt, rate on links"},
		{"kill", "SIGKILL a node, restart it on its data"},
		{"pause", "freeze a node, thaw it"},
		{"restart-cluster", "kill every node, restart them all"},
	})
	fmt.Fprintln(w, "  (partitions also take direction, ports, protocols, action: drop|reject, flap)")
	list("workloads (workload.kind; docs/adapters.md):", []item{
		{"register", "read, write, compare-and-set on independent keys; linearizability"},
		{"set", "adds and whole-set reads; lost, unexpected, stale elements"},
		{"counter", "increments and reads; reads between acknowledged and attempted sums"},
		{"append", "appends to lists and whole-list reads; linearizability"},
	})
	fmt.Fprintln(w, "systems (cluster.system: a name below, a system file, or inline; docs/systems.md):")
	for _, name := range systems.BuiltinNames() {
		d, err := systems.Builtin(name)
		if err != nil {
			fmt.Fprintf(w, "  %-16s (%v)\n", name, err)
			continue
		}
		fmt.Fprintf(w, "  %-16s %s; image %s\n", name, d.Description, d.Image)
		for _, k := range d.ParamNames() {
			p := d.Params[k]
			fmt.Fprintf(w, "  %-16s   cluster.params.%s (default %s): %s\n", "", k, p.Default, strings.Join(p.Values, ", "))
		}
	}
	fmt.Fprintln(w, "shipped scenarios:")
	root, err := systems.SourceRoot()
	if err != nil {
		fmt.Fprintf(w, "  (not found: %v)\n", err)
		return
	}
	files, _ := filepath.Glob(filepath.Join(root, "scenarios", "*.yaml"))
	bugs, _ := filepath.Glob(filepath.Join(root, "scenarios", "bugs", "*.yaml"))
	examples, _ := filepath.Glob(filepath.Join(root, "examples", "*", "scenarios", "*.yaml"))
	compose, _ := filepath.Glob(filepath.Join(root, "examples", "*", "*-compose.yaml"))
	for _, f := range slices.Concat(files, bugs, examples, compose) {
		desc := ""
		if sc, err := scenarios.Load(f); err == nil {
			desc = sc.Description
		}
		rel, _ := filepath.Rel(root, f)
		fmt.Fprintf(w, "  %-56s %s\n", rel, desc)
	}
}
