// Package workloads is the light part of running a workload: the
// workloads themselves (one value each, one file each: register.go,
// set.go, counter.go, append.go), their operations and generators, the
// runner that drives clients and records every operation, and the final
// reads. It imports the record types and the checker's view of each
// workload, nothing that talks to a system.
//
// A workload is a Kind: its generator of operations, and Checks, what
// the checker knows of it (its operations and which only read, its
// models, the guarantees it examines). Clients come from an Adapter
// (package workloads/clients holds faultline's own and the client-program
// driver), each pinned to one node as Jepsen does. Run drives them: an
// invoke record before each operation and an ok / fail / info completion
// after it go to the run's history.Writer as they happen. Values cross
// every boundary as JSON, so a client in another language speaks the same
// language as the history (docs/adapters.md).
package workloads

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/faultline/faultline/checker"
)

// Kind is one workload: what `faultline list` says of it, what the
// checker knows of it, and how its operations are made.
type Kind struct {
	Name string
	// Doc says what it does and checks, in a line.
	Doc string
	// Checks is the checker's side of the workload: its operations (which
	// only read), models and guarantee checks.
	Checks *checker.Workload
	// Mix says that it weighs its operations by the scenario's
	// workload.mix (the others weigh their own).
	Mix bool
	// prefix begins its key names (k1, s1, ...).
	prefix string
	// check refuses a configuration the workload cannot run; the error is
	// a *FieldError naming a workload field.
	check func(cfg Config) error
	// generator makes its generator over keys.
	generator func(cfg Config, g gen) Generator
}

// kinds is the one list of workloads a scenario may name.
var kinds = []*Kind{Register, Set, Counter, Append, UniqueIDs}

// Kinds lists the workloads.
func Kinds() []*Kind { return kinds }

// Names lists the workloads' names.
func Names() []string {
	var out []string
	for _, k := range kinds {
		out = append(out, k.Name)
	}
	return out
}

// Lookup finds a workload by name.
func Lookup(name string) (*Kind, error) {
	for _, k := range kinds {
		if k.Name == name {
			return k, nil
		}
	}
	return nil, fmt.Errorf("unknown workload %q; built in: %s", name, strings.Join(Names(), ", "))
}

// Check refuses a configuration the workload cannot run (a register
// mix of reads alone); the error is a *FieldError.
func (k *Kind) Check(cfg Config) error {
	if k.check == nil {
		return nil
	}
	return k.check(cfg)
}

// Op is the workload's operation f on key with value, marked a read when
// the workload says it only reads. Asking for an operation the workload
// does not have is a bug in faultline.
func (k *Kind) Op(f, key string, value json.RawMessage) Op {
	spec, ok := k.Checks.Op(f)
	if !ok {
		panic(fmt.Sprintf("workload %s has no operation %q", k.Name, f))
	}
	return Op{F: f, Key: key, Value: value, Read: spec.Read}
}

// FieldError is a workload field a configuration sets wrong ("mix").
type FieldError struct{ Field, Msg string }

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Op is one operation, as the history records it: f names it ("read",
// "write", "cas", "add", "append"), Key the independent object it acts on,
// Value its argument (a number, [old, new] for cas, null for a read).
// Read says it only reads, as its workload's operations say
// (checker.Operation): an operation that may change state is the zero
// value, so an outcome that cannot be known is recorded unknown unless
// the operation is known to be a read.
type Op struct {
	F     string          `json:"f"`
	Key   string          `json:"key,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
	Read  bool            `json:"read,omitempty"`
}

// Broken is the outcome of an operation whose client could not say how
// it ended (it crashed, hung, answered nonsense, or went away): unknown,
// for it may have happened, unless it only reads, when it is a failure
// (nothing happened that a check could use).
func (op Op) Broken(err error) Result {
	if op.Read {
		return Result{Outcome: Fail, Err: err}
	}
	return Result{Outcome: Unknown, Err: err}
}

// Outcome is how an operation ended.
type Outcome int

const (
	// OK: the operation happened.
	OK Outcome = iota
	// Fail: the operation certainly did not happen.
	Fail
	// Unknown: it may or may not have happened (timeout, lost connection).
	Unknown
)

// Result is what a client observed. Value is what a read returned (a
// number, null, or a list); for other operations it is left empty and the
// history repeats the operation's argument.
type Result struct {
	Outcome Outcome
	Value   json.RawMessage
	Err     error
}

// Node is what a client needs to reach one node.
type Node struct {
	Name     string
	Addr     string // its IPv4 address
	Endpoint string // what clients connect to, e.g. http://10.213.0.11:2379
	// Env is what a client program pinned to this node gets besides
	// faultline's FAULTLINE_* variables (NAME=value, from the system's
	// client.env).
	Env []string
}

// Client runs operations against one node. Invoke must return by the time
// ctx ends (with Unknown, or Fail for a read).
type Client interface {
	Invoke(ctx context.Context, op Op) Result
	Close() error
}

// Adapter opens clients for one system under test.
type Adapter interface {
	// Open connects a client for the workload kind to one node.
	Open(ctx context.Context, node Node, kind string, id int) (Client, error)
}

// Optional abilities of an adapter.
type (
	// ReadyWaiter waits until the cluster serves requests.
	ReadyWaiter interface {
		WaitReady(ctx context.Context, nodes []Node) error
	}
	// LeaderFinder names the current leader, for faults aimed at it.
	LeaderFinder interface {
		Leader(ctx context.Context, nodes []Node) (string, error)
	}
)

// Pinned is an opened client and the node it is pinned to.
type Pinned struct {
	Node   string
	Client Client
}
