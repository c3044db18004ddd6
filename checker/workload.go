package checker

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"

	"github.com/faultline/faultline/history"
)

// Workload is everything the checker knows of one workload, in the
// spirit of porcupine's Model: a struct of functions, one value per
// workload (register.go, set.go, append.go, counter.go). Nothing in the
// checker switches on a workload's name; the guarantees a workload
// examines are the rows its value lists, never a list kept beside it.
type Workload struct {
	name string
	// ops are its operations, each saying whether it only reads: an
	// update whose outcome is unknown may have happened.
	ops []Operation
	// decode reads an operation's values from its records (o.f is set);
	// the error names the record.
	decode func(o *gop) error
	// Linearizability, one of two ways: model and porcupineOps give
	// porcupine a key's operations and the model to check them against,
	// or linearizable checks a key itself (false: it has nothing to check).
	model        func(opts Options) porcupine.Model
	porcupineOps func(k *keyOps, end int64) []porcupine.Operation
	linearizable func(k *keyOps) (KeyResult, bool)
	// examine runs the per-key guarantee checks of one key.
	examine func(k *keyOps, x *examination)
	// initial says that its keys start at Options.Initial (registers);
	// the others start empty.
	initial bool
	// rows are the guarantees examine (and the linearizability check)
	// examine, each with what "held" covers.
	rows []row
	// stale says that examine measures how soon updates were seen, which
	// the bounded-staleness check reads.
	stale bool
	// final writes what a successful read returned as the state it names,
	// so that two final reads name the same state exactly when they agree
	// (a set's elements in any order, say).
	final func(o *gop) string
}

// TakesInitial reports whether the workload's keys start at
// Options.Initial (a register's initial value); the others start empty.
func (w *Workload) TakesInitial() bool { return w.initial }

// Operation is one operation of a workload, as the history names it (f),
// and whether it only reads. The one place that says so: clients mark
// what they run from it, and the checks decode by it.
type Operation struct {
	F    string
	Read bool
	// Shows: an update whose success shows the state too (a
	// compare-and-set found the value it expected), so that a history of
	// them exercises the guarantees.
	Shows bool
}

// hasRead says whether the workload has an operation that only reads.
func (w *Workload) hasRead() bool {
	for _, o := range w.ops {
		if o.Read {
			return true
		}
	}
	return false
}

// convergesScope is what "converges" covers, the same for every workload.
const convergesScope = "the last final read of every node, per key"

// row is a guarantee a workload's checks examine and what "held" covers.
type row struct {
	g     Guarantee
	scope string
}

// The session guarantees' scope, the same for every workload.
const sessionScope = "per key and session (a process up to an unknown outcome), by the guarantee's own definition; what the history proves directly"

// causalScope says what the causal row covers.
const causalScope = "per key and session: every session guarantee's requirements at once; what the history proves directly"

// workloads are the workloads the checker knows; aliases are other names
// histories come under (Jepsen's cas-register is a register).
var (
	workloads = []*Workload{Register, Set, Append, Counter, UniqueIDs}
	aliases   = map[string]*Workload{"cas-register": Register, "": Register}
)

// Named is the workload a history of name is checked as: register,
// cas-register, set, append or counter.
func Named(name string) (*Workload, error) {
	if w, ok := aliases[name]; ok {
		return w, nil
	}
	for _, w := range workloads {
		if w.name == name {
			return w, nil
		}
	}
	var names []string
	for _, w := range workloads {
		names = append(names, w.name)
	}
	names = append(names, "cas-register")
	return nil, fmt.Errorf("checker: no model for workload %q (known: %s)", name, strings.Join(names, ", "))
}

// Name is the workload's name.
func (w *Workload) Name() string { return w.name }

// Op is the operation named f, and false when the workload has none.
func (w *Workload) Op(f string) (Operation, bool) {
	for _, o := range w.ops {
		if o.F == f {
			return o, true
		}
	}
	return Operation{}, false
}

// Examines lists the guarantees the workload's checks examine, strongest
// first: its rows, and every whole-history guarantee whose check reads
// what its checks gather.
func (w *Workload) Examines() []Guarantee {
	var out []Guarantee
	for _, g := range guarantees {
		if w.examines(g) {
			out = append(out, g.name)
		}
	}
	return out
}

func (w *Workload) examines(g *guarantee) bool {
	if g.whole != nil {
		return g.whole.examines(w)
	}
	return slices.ContainsFunc(w.rows, func(r row) bool { return r.g == g.name })
}

// Same says whether two answers of a read name the same state, the way
// the final reads are compared (a set's elements in any order): what the
// harness's final reads repeat until every node agrees.
func (w *Workload) Same(a, b json.RawMessage) bool {
	canon := func(out json.RawMessage) (string, bool) {
		inv := history.Record{F: "read"}
		o := &gop{p: &pairedOp{inv: &inv, typ: history.OK, out: out}, f: "read"}
		if w.decode(o) != nil {
			return "", false
		}
		return w.final(o), true
	}
	ca, oka := canon(a)
	cb, okb := canon(b)
	return oka && okb && ca == cb
}
