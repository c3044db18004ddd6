package checker

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline/history"
)

// Guarantee is a consistency guarantee the checker examines. A system's
// label (CP, AP) says little; the guarantee table says which of these the
// history shows held, which it rules out, and which it cannot decide.
type Guarantee string

// The guarantees, strongest first.
const (
	Linearizable      Guarantee = "linearizable"
	Sequential        Guarantee = "sequential"
	Causal            Guarantee = "causal"
	ReadYourWrites    Guarantee = "read-your-writes"
	MonotonicReads    Guarantee = "monotonic-reads"
	MonotonicWrites   Guarantee = "monotonic-writes"
	WritesFollowReads Guarantee = "writes-follow-reads"
	NoLostWrites      Guarantee = "no-lost-writes"
	BoundedStaleness  Guarantee = "bounded-staleness"
	Converges         Guarantee = "converges"
)

// guarantee is one guarantee: what it means, what it needs, and, for one
// judged over the whole history, its check. One that is not is examined
// by the per-key checks of the workloads whose rows name it.
type guarantee struct {
	name Guarantee
	doc  string
	// bound, when set, is a duration without which the guarantee means
	// nothing: it is examined only when one is given.
	bound *Bound
	// whole, when set, judges the guarantee over the whole history.
	whole *wholeCheck
}

// Bound is the duration a guarantee needs, and where a user gives it: the
// scenario's checker.<Field>, or `faultline check -<Flag>`.
type Bound struct {
	Guarantee Guarantee
	Field     string // staleness_bound
	Flag      string // staleness-bound
	// Doc says what the duration means; Example is one.
	Doc, Example string
}

// wholeCheck is a guarantee judged over the whole history: every
// operation, the fault windows, and what the per-key checks measured.
type wholeCheck struct {
	// examines says whether a workload's checks gather what check reads.
	examines func(w *Workload) bool
	// check writes the guarantee's row of t, given its bound.
	check func(h *whole, bound time.Duration, t *table)
}

// whole is the history as a whole-history check reads it.
type whole struct {
	ops    []gop // every operation, in order of invocation
	faults []history.FaultWindow
	// stale is what the per-key checks measured of staleness (nil for a
	// workload that does not).
	stale *staleAcc
}

// guarantees is the one list of guarantees, strongest first.
var guarantees = []*guarantee{
	{name: Linearizable, doc: "every operation takes effect at one instant between its invocation and its completion"},
	{name: Sequential, doc: "one order of all operations, each process's in its own order, explains every read (per key)"},
	{name: Causal, doc: "the four session guarantees together, in every session (what MongoDB's causally consistent sessions promise; causal consistency, Brzezinski et al. 2004)"},
	{name: ReadYourWrites, doc: "a session's read reflects the session's own earlier acknowledged writes"},
	{name: MonotonicReads, doc: "a session's read reflects every write its earlier reads reflected"},
	{name: MonotonicWrites, doc: "a session's writes take effect in the order it made them"},
	{name: WritesFollowReads, doc: "a session's write takes effect after the writes its earlier reads reflected"},
	{name: NoLostWrites, doc: "every acknowledged write is in the final reads, made once updates and faults have ended"},
	boundedStaleness,
	{name: Converges, doc: "after the heal, every node answers the same value for each key"},
}

func lookupGuarantee(g Guarantee) *guarantee {
	for _, i := range guarantees {
		if i.name == g {
			return i
		}
	}
	return nil
}

// Guarantees lists every guarantee, strongest first.
func Guarantees() []Guarantee {
	out := make([]Guarantee, len(guarantees))
	for i, g := range guarantees {
		out[i] = g.name
	}
	return out
}

// Bounds lists the bounds guarantees need, in the order of the
// guarantees: what scenarios read under checker and `check` takes as
// flags.
func Bounds() []Bound {
	var out []Bound
	for _, g := range guarantees {
		if g.bound != nil {
			out = append(out, *g.bound)
		}
	}
	return out
}

// Doc says what a guarantee means.
func (g Guarantee) Doc() string {
	if i := lookupGuarantee(g); i != nil {
		return i.doc
	}
	return ""
}

// ParseGuarantee reads a guarantee's name.
func ParseGuarantee(s string) (Guarantee, error) {
	if i := lookupGuarantee(Guarantee(s)); i != nil {
		return i.name, nil
	}
	return "", fmt.Errorf("unknown guarantee %q (known: %s)", s, names(Guarantees()))
}

// names writes guarantees as a list: "linearizable, sequential".
func names(gs []Guarantee) string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = string(g)
	}
	return strings.Join(out, ", ")
}

// CheckClaim says whether a workload's checks can judge a claim (or an
// expectation) of g: they must examine it, with the bound it needs among
// bounds. The error says what to write instead.
func CheckClaim(w *Workload, g Guarantee, bounds map[Guarantee]time.Duration) error {
	if !slices.Contains(w.Examines(), g) {
		return fmt.Errorf("the %s workload's checks do not examine %s (they examine: %s)", w.name, g, names(w.Examines()))
	}
	if b := lookupGuarantee(g).bound; b != nil && bounds[g] <= 0 {
		return fmt.Errorf("%s needs a bound (checker.%s, or -%s, for example %s): %s", g, b.Field, b.Flag, b.Example, b.Doc)
	}
	return nil
}

// Status is what the history shows of one guarantee.
type Status string

const (
	// Held: the checks found no violation, within their scope.
	Held Status = "held"
	// Violated: operations of the history prove the guarantee broken.
	Violated Status = "violated"
	// Undecided: the budget ran out, or the history lacks what the check
	// needs (final reads, unique values).
	Undecided Status = "unknown"
)

// GuaranteeResult is one row of the guarantee table.
type GuaranteeResult struct {
	Guarantee Guarantee `json:"guarantee"`
	Status    Status    `json:"status"`
	// Claimed: the scenario declares that the system promises it; the
	// verdict is computed against the claimed guarantees.
	Claimed bool `json:"claimed,omitempty"`
	// Scope says exactly what "held" covers.
	Scope string `json:"scope,omitempty"`
	// Violations are the first few proofs; Total counts them all.
	Violations []Violation `json:"violations,omitempty"`
	Total      int         `json:"violations_total,omitempty"`
	Note       string      `json:"note,omitempty"`
}

// Violation is one proof that a guarantee did not hold: the operations
// involved, in the order that matters, and the fault in force.
type Violation struct {
	Key  string  `json:"key,omitempty"`
	What string  `json:"what"`
	Ops  []OpRef `json:"ops,omitempty"`
	// Fault names the faults in force while any of Ops ran ("" for none:
	// the proof says "no fault in force").
	Fault string `json:"fault,omitempty"`
}

func (v Violation) String() string {
	var b strings.Builder
	if v.Key != "" {
		fmt.Fprintf(&b, "key %s: ", v.Key)
	}
	b.WriteString(v.What)
	if v.Fault != "" {
		fmt.Fprintf(&b, " (during %s)", v.Fault)
	} else {
		b.WriteString(" (no fault in force)")
	}
	for _, o := range v.Ops {
		fmt.Fprintf(&b, "\n    %s", o)
	}
	return b.String()
}

// maxViolations bounds the proofs kept per guarantee.
const maxViolations = 10

// sessionGuarantees are the four session guarantees.
var sessionGuarantees = []Guarantee{ReadYourWrites, MonotonicReads, MonotonicWrites, WritesFollowReads}

// table collects the rows of one check, in the order of guarantees.
type table struct {
	rows map[Guarantee]*GuaranteeResult
}

// newTable has a row, held until a check says otherwise, for every
// guarantee the workload examines whose bound, if it needs one, is given.
func newTable(w *Workload, bounds map[Guarantee]time.Duration) *table {
	t := &table{rows: map[Guarantee]*GuaranteeResult{}}
	for _, g := range guarantees {
		if w.examines(g) && (g.bound == nil || bounds[g.name] > 0) {
			t.rows[g.name] = &GuaranteeResult{Guarantee: g.name, Status: Held}
		}
	}
	return t
}

// violate records a proof against g.
func (t *table) violate(g Guarantee, v Violation) {
	r := t.rows[g]
	if r == nil {
		return
	}
	r.Status = Violated
	r.Total++
	if len(r.Violations) < maxViolations {
		r.Violations = append(r.Violations, v)
	}
}

// undecided marks g unknown unless it is violated; the first reason is
// the one kept.
func (t *table) undecided(g Guarantee, why string) {
	r := t.rows[g]
	if r == nil || r.Status != Held {
		return
	}
	r.Status, r.Note = Undecided, why
}

// merge adds what another part of the keys found.
func (t *table) merge(o *table) {
	for g, r := range o.rows {
		mine := t.rows[g]
		if mine == nil {
			continue
		}
		switch r.Status {
		case Violated:
			if mine.Status != Violated {
				mine.Status, mine.Note = Violated, ""
			}
			mine.Total += r.Total
			mine.Violations = append(mine.Violations, r.Violations[:min(len(r.Violations), maxViolations-len(mine.Violations))]...)
		case Undecided:
			t.undecided(g, r.Note)
		}
	}
}

func (t *table) scope(g Guarantee, s string) {
	if r := t.rows[g]; r != nil {
		r.Scope = s
	}
}

// implications applies what the guarantees say of each other: a broken
// session guarantee breaks the four together (causal), which breaks
// sequential consistency, which breaks linearizability; linearizability,
// where it held, gives the rest of the ordered guarantees.
func (t *table) implications() {
	lin, seq, causal := t.rows[Linearizable], t.rows[Sequential], t.rows[Causal]
	implied := func(r *GuaranteeResult, by Guarantee) {
		if r == nil || r.Status == Violated {
			return
		}
		r.Status = Violated
		r.Note = fmt.Sprintf("implied: %s is violated, and %s implies it", by, r.Guarantee)
	}
	// Down the chain, past the rows a workload lacks (a set has no causal
	// row: its broken read-your-writes breaks sequential directly).
	var by Guarantee
	for _, g := range sessionGuarantees {
		if r := t.rows[g]; r != nil && r.Status == Violated {
			by = g
			break
		}
	}
	for _, r := range []*GuaranteeResult{causal, seq, lin} {
		if r == nil {
			continue
		}
		if by != "" {
			implied(r, by)
		}
		if r.Status == Violated {
			by = r.Guarantee
		}
	}
	if lin == nil || lin.Status != Held {
		return
	}
	for _, g := range append([]Guarantee{Sequential, Causal}, sessionGuarantees...) {
		if r := t.rows[g]; r != nil && r.Status == Undecided {
			r.Status, r.Note = Held, "implied by linearizable (the check alone could not decide: "+r.Note+")"
		}
	}
}

// result lists the rows, strongest first, marking the claimed ones.
func (t *table) result(expect []Guarantee) []GuaranteeResult {
	var out []GuaranteeResult
	for _, i := range guarantees {
		if r := t.rows[i.name]; r != nil {
			r.Claimed = slices.Contains(expect, i.name)
			out = append(out, *r)
		}
	}
	return out
}

// verdictFor is the verdict against what was claimed: invalid when a
// claimed guarantee was violated, unknown when one could not be decided.
func verdictFor(rows []GuaranteeResult, expect []Guarantee) (Verdict, string) {
	v := Valid
	var why []string
	for _, r := range rows {
		if !r.Claimed {
			continue
		}
		switch r.Status {
		case Violated:
			v = Invalid
		case Undecided:
			if v == Valid {
				v = Unknown
			}
			why = append(why, fmt.Sprintf("%s: %s", r.Guarantee, r.Note))
		}
	}
	for _, g := range expect {
		if !slices.ContainsFunc(rows, func(r GuaranteeResult) bool { return r.Guarantee == g }) && v == Valid {
			v = Unknown
			why = append(why, fmt.Sprintf("%s is not examined by this workload's checks", g))
		}
	}
	if v == Unknown {
		return v, strings.Join(why, "; ")
	}
	return v, ""
}

// boundary says, strongest first, which guarantees held, which the
// history rules out, and which it could not decide: "held: sequential,
// read-your-writes; ruled out: linearizable; unknown: converges".
func boundary(rows []GuaranteeResult) string {
	var held, out, unk []string
	for _, r := range rows {
		switch r.Status {
		case Held:
			held = append(held, string(r.Guarantee))
		case Violated:
			out = append(out, string(r.Guarantee))
		default:
			unk = append(unk, string(r.Guarantee))
		}
	}
	var parts []string
	for _, p := range []struct {
		name string
		gs   []string
	}{{"held", held}, {"ruled out", out}, {"unknown", unk}} {
		if len(p.gs) > 0 {
			parts = append(parts, p.name+": "+strings.Join(p.gs, ", "))
		}
	}
	return strings.Join(parts, "; ")
}

// Broken lists the claimed guarantees the history proves violated.
func (r Result) Broken() []GuaranteeResult {
	var out []GuaranteeResult
	for _, g := range r.Guarantees {
		if g.Claimed && g.Status == Violated {
			out = append(out, g)
		}
	}
	return out
}

// TableText is the guarantee table for a terminal or a CI log: the
// boundary, a line per guarantee (claimed ones marked "*"), up to proofs
// proofs of each violated one, then staleness and convergence.
func (r Result) TableText(proofs int) string {
	if len(r.Guarantees) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "guarantees (* claimed): %s\n", r.Boundary)
	for _, g := range r.Guarantees {
		mark := " "
		if g.Claimed {
			mark = "*"
		}
		line := fmt.Sprintf("  %s %-20s %-8s", mark, g.Guarantee, g.Status)
		switch {
		case g.Status == Violated && g.Total > 0:
			line += fmt.Sprintf(" %d violation", g.Total)
			if g.Total > 1 {
				line += "s"
			}
		case g.Note != "":
			line += " " + g.Note
		}
		b.WriteString(strings.TrimRight(line, " ") + "\n")
		for i, v := range g.Violations {
			if i == proofs {
				break
			}
			for _, l := range strings.Split(v.String(), "\n") {
				b.WriteString("      " + l + "\n")
			}
		}
	}
	if r.Staleness != nil {
		fmt.Fprintf(&b, "  staleness: %s\n", r.Staleness)
		for i, w := range r.Staleness.Worst {
			if i == proofs {
				break
			}
			fmt.Fprintf(&b, "      key %s: read%s missed an update acknowledged %s before it began\n        %s\n        missed %s\n", w.Key, onNode(w.Node), ms(w.ByMS), w.Read, w.Missed)
		}
	}
	if r.Convergence != nil {
		fmt.Fprintf(&b, "  convergence: %s\n", r.Convergence)
		for i, d := range r.Convergence.Divergences {
			if i == proofs {
				break
			}
			fmt.Fprintf(&b, "      %s\n", d)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// onNode is " on n1", or "" when the history names no node.
func onNode(n string) string {
	if n == "" {
		return ""
	}
	return " on " + n
}
