package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/history"
)

// checkCmd re-checks a stored run, or a Jepsen history, offline.
func checkCmd(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o harness.CheckOptions
	fs.DurationVar(&o.Budget, "budget", 0, "checker time budget (default: the stored scenario's, else 60s)")
	fs.DurationVar(&o.KeyBudget, "key-budget", 0, "time budget of each key (default: only -budget)")
	fs.BoolVar(&o.FirstInvalid, "first-invalid", false, "stop at the first invalid key")
	fs.StringVar(&o.Out, "out", "", "folder for check.json and the visualizations (default: a fresh folder under -store, named for the input)")
	fs.StringVar(&o.StoreRoot, "store", "store", "store folder under which -out defaults to checks/<input>-<time>")
	fs.StringVar(&o.Format, "format", history.FormatAuto, "history format: auto, faultline, jepsen-edn, jepsen-log")
	fs.StringVar(&o.Model, "model", "", "register, cas-register, append, set or counter (default: the stored scenario's workload, else register)")
	jepsenNil := fs.String("jepsen-nil", string(history.NilUnknown), "what a Jepsen read that returned nil means: unknown (Knossos: matches any value) or absent (no value, as in faultline's histories)")
	expect := fs.String("expect", "", "comma-separated guarantees the system claims, the verdict is against them (default: the stored scenario's checker.expect, else linearizable); see faultline list")
	bounds := map[checker.Guarantee]*time.Duration{}
	for _, b := range checker.Bounds() {
		bounds[b.Guarantee] = fs.Duration(b.Flag, 0, fmt.Sprintf("what %s means: %s (default: the stored scenario's checker.%s)", b.Guarantee, b.Doc, b.Field))
	}
	initial := fs.String("initial", "", "registers' initial value (default: none, as etcd; Jepsen's cas-register tests often use 0)")
	if err := parseFlags(fs, args); err != nil {
		return exitError
	}
	durations := []string{"-budget", "-key-budget"}
	negative := o.Budget < 0 || o.KeyBudget < 0
	o.Bounds = map[checker.Guarantee]time.Duration{}
	for _, b := range checker.Bounds() {
		durations = append(durations, "-"+b.Flag)
		negative = negative || *bounds[b.Guarantee] < 0
		if d := *bounds[b.Guarantee]; d > 0 {
			o.Bounds[b.Guarantee] = d
		}
	}
	if negative {
		last := len(durations) - 1
		return fail(stderr, fmt.Errorf("%s and %s must be positive", strings.Join(durations[:last], ", "), durations[last]))
	}
	if fs.NArg() != 1 {
		return fail(stderr, errors.New("check needs a store folder or a history file, for example: faultline check store/latest"))
	}
	nilReads, err := history.ParseNilReadMeaning(*jepsenNil)
	if err != nil {
		return fail(stderr, fmt.Errorf("-jepsen-nil %q: want %s or %s", *jepsenNil, history.NilUnknown, history.NilAbsent))
	}
	o.JepsenNil = nilReads
	for _, name := range strings.FieldsFunc(*expect, func(r rune) bool { return r == ',' || r == ' ' }) {
		g, err := checker.ParseGuarantee(name)
		if err != nil {
			return fail(stderr, fmt.Errorf("-expect: %w", err))
		}
		o.Expect = append(o.Expect, g)
	}
	if *initial != "" {
		v, err := strconv.ParseInt(*initial, 10, 64)
		if err != nil {
			return fail(stderr, fmt.Errorf("-initial %q: want an integer", *initial))
		}
		o.Initial = &v
	}
	c, err := harness.Check(fs.Arg(0), o)
	if c.Warning != "" {
		fmt.Fprintf(stderr, "faultline: warning: %s\n", c.Warning)
	}
	if err != nil {
		return fail(stderr, err)
	}
	if c.Format != history.FormatFaultline {
		fmt.Fprintf(stdout, "history: %s (%s)\n", c.Path, c.Format)
	}
	printResult(stdout, c.Result, c.Dir)
	if c.WriteErr != nil {
		fmt.Fprintf(stderr, "faultline: warning: the verdict above stands, but check.json and the visualizations were not written: %v\n", c.WriteErr)
	}
	return exitCode(c.Result.Verdict)
}
