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
)

// outcome is one scenario's run, for the CI outputs.
type outcome struct {
	name string
	rep  harness.Report
	err  error
	// skipped: valid, but not run because another scenario was invalid.
	skipped bool
}

func (o outcome) code() int {
	if errors.Is(o.err, harness.ErrInterrupted) {
		return exitInterrupted
	}
	if o.err != nil {
		return exitError
	}
	j := o.rep.Expectation
	if j == nil {
		return exitCode(o.rep.Verdict)
	}
	if j.Met {
		return exitValid
	}
	if o.rep.Verdict == checker.Unknown {
		return exitUnknown
	}
	return exitInvalid
}

// met says whether the run showed what its scenario expected.
func (o outcome) met() bool { return o.err == nil && o.rep.Expectation != nil && o.rep.Expectation.Met }

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
// CI job learns about all its broken files at once. With any invalid, the
// outcomes say which (an error each) and which were not run, for the
// JUnit file and the summary.
func loadAll(files []string, stderr io.Writer) ([]*scenarios.Scenario, []outcome, error) {
	var out []*scenarios.Scenario
	var outs []outcome
	var bad int
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
		sc, err := scenarios.Load(f)
		if err != nil {
			fmt.Fprintf(stderr, "faultline: %v\n", err)
			bad++
			outs = append(outs, outcome{name: name, err: err})
			continue
		}
		printWarnings(stderr, sc)
		out = append(out, sc)
		outs = append(outs, outcome{name: sc.Name, skipped: true})
	}
	if bad > 0 {
		return nil, outs, fmt.Errorf("%d of %s %s invalid; nothing was run", bad, plural(len(files), "scenario"), map[bool]string{true: "is", false: "are"}[bad == 1])
	}
	return out, nil, nil
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
	Skipped  int         `xml:"skipped,attr"`
	Time     float64     `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      float64       `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitProblem `xml:"skipped,omitempty"`
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
		case o.skipped:
			c.Skipped = &junitProblem{Message: "not run: another scenario of the job is invalid", Type: "not-run"}
			suite.Skipped++
		case o.err != nil:
			c.Error = &junitProblem{Message: o.err.Error(), Type: "could-not-run", Text: o.err.Error()}
			suite.Errors++
		case o.met():
			c.SystemOut = strings.TrimSpace(fmt.Sprintf("verdict %s, as expected (%s)\n%s\n%s", o.rep.Verdict, o.rep.Expectation.Expected, o.rep.Boundary, c.SystemOut))
		case o.rep.Verdict == checker.Invalid:
			msg, text := explainInvalid(o.rep.Result)
			c.Failure = &junitProblem{Message: unmet(o) + msg, Type: "invalid", Text: text}
			suite.Failures++
		case o.rep.Verdict == checker.Unknown:
			msg := "verdict unknown: the checker could not decide within its budget"
			if o.rep.Note != "" {
				msg = "verdict unknown: " + o.rep.Note
			}
			c.Failure = &junitProblem{Message: unmet(o) + msg, Type: "unknown", Text: msg}
			suite.Failures++
		default:
			msg := unmet(o)
			c.Failure = &junitProblem{Message: strings.TrimSuffix(msg, ": "), Type: "not-as-expected", Text: msg + "\n" + o.rep.Result.TableText(3)}
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

// unmet says how a run differed from what its scenario expected, when it
// declared something ("" otherwise).
func unmet(o outcome) string {
	j := o.rep.Expectation
	if j == nil || j.Met || j.Expected.Verdict == checker.Valid && len(j.Expected.Violated)+len(j.Expected.Held) == 0 {
		return ""
	}
	return "not as expected: " + j.Why + ": "
}

// explainInvalid is the one-line message and the full text of an invalid
// verdict: the first claimed guarantee violated, with its proof, and the
// guarantee table.
func explainInvalid(res checker.Result) (string, string) {
	msg := "a claimed guarantee was violated"
	if broken := res.Broken(); len(broken) > 0 {
		g := broken[0]
		msg = fmt.Sprintf("%s violated", g.Guarantee)
		if len(g.Violations) > 0 {
			v := g.Violations[0]
			msg += ": " + strings.SplitN(v.String(), "\n", 2)[0]
		} else if g.Note != "" {
			msg += ": " + g.Note
		}
	}
	lines := []string{res.TableText(3)}
	for _, k := range res.Keys {
		if k.Verdict != checker.Invalid {
			continue
		}
		head := fmt.Sprintf("key %s (linearizability):", k.Key)
		switch {
		case k.Explanation != nil:
			lines = append(lines, head, k.Explanation.String())
		case len(k.Anomalies) > 0:
			lines = append(lines, head)
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
	fmt.Fprintf(&b, "## faultline: %s, %d not as expected\n\n", plural(len(outs), "scenario"), bad)
	b.WriteString("| scenario | verdict | expected | guarantees | ok / fail / info | faults | time | store |\n|---|---|---|---|---|---|---|---|\n")
	for _, o := range outs {
		verdict := "**" + strings.ToUpper(string(o.rep.Verdict)) + "**"
		if o.met() {
			verdict = string(o.rep.Verdict)
		}
		expected := ""
		if j := o.rep.Expectation; j != nil {
			expected = j.Expected.String()
			if !j.Met {
				expected = "**" + expected + "** (not met)"
			}
		}
		switch {
		case o.skipped:
			verdict = "not run"
		case o.err != nil:
			verdict = "**COULD NOT RUN**"
		}
		c := o.rep.Counts
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d / %d / %d | %d | %.1f s | `%s` |\n", o.name, verdict, expected, o.rep.Boundary, c.OK, c.Fail, c.Info, c.Faults, ms(o.rep.Timings.TotalMS), o.rep.StoreDir)
	}
	for _, o := range outs {
		switch {
		case o.skipped:
		case o.err != nil:
			fmt.Fprintf(&b, "\n### %s: could not run\n\n```\n%v\n```\n", o.name, o.err)
		case !o.met():
			_, text := explainInvalid(o.rep.Result)
			fmt.Fprintf(&b, "\n### %s: %s%s\n\n```\n%s\n```\n", o.name, unmet(o), o.rep.Verdict, text)
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// printWarnings writes a scenario's warnings, a line each beginning with
// file:line:col, as editors and CI annotations read them.
func printWarnings(w io.Writer, sc *scenarios.Scenario) {
	for _, p := range sc.Warnings {
		fmt.Fprintln(w, p.Text())
	}
}
