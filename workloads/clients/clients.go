// Package clients holds the clients that run a workload against a system:
// the built-in adapters (etcd.go, refkv.go: the one list of them is
// builtins, which system files name in client.builtin), the driver of
// client programs in any language speaking JSON lines (external.go), and
// the client relay that runs either inside a container on the run's
// network and answers over its attach stream (relay.go).
//
// Operations enter as workloads.Op and leave as workloads.Result; what a
// client cannot tell the outcome of is unknown unless the operation only
// reads (workloads.Op.Broken).
package clients

import (
	"errors"
	"fmt"
	"strings"

	"github.com/faultline/faultline/workloads"
)

// Errors a caller may want to tell apart.
var (
	// ErrClientProgram: the client program could not be started, or does
	// not do what the run needs of it.
	ErrClientProgram = errors.New("client program failed")
	// ErrRelayGone: the client container stopped answering.
	ErrRelayGone = errors.New("client container gone")
)

// BuiltinOptions are what a scenario tells a built-in adapter.
type BuiltinOptions struct {
	// Reads is the read mode: linearizable, or serializable (answered from
	// the node's local state, which may be stale).
	Reads string
}

// builtins are the Go adapters faultline ships, by the name a system's
// definition gives in client.builtin: the one list of them (package
// systems validates definitions against it). A system without one uses
// a client program (External); adding a system needs no entry here.
var builtins = []struct {
	name string
	open func(BuiltinOptions) workloads.Adapter
	// runs are the workloads it runs, by name.
	runs func() []string
}{
	{"etcd", func(o BuiltinOptions) workloads.Adapter { return Etcd{Serializable: o.Reads == "serializable"} }, etcdRuns},
	{"refkv", func(BuiltinOptions) workloads.Adapter { return RefKV{} }, func() []string { return []string{workloads.Register.Name} }},
}

// Runs lists the workloads the built-in client name runs (none for a
// name that is no built-in client's): a system file that chooses it
// need not list them.
func Runs(name string) []string {
	for _, b := range builtins {
		if b.name == name {
			return b.runs()
		}
	}
	return nil
}

// Builtin returns a built-in adapter by name.
func Builtin(name string, o BuiltinOptions) (workloads.Adapter, error) {
	for _, b := range builtins {
		if b.name == name {
			return b.open(o), nil
		}
	}
	return nil, fmt.Errorf("no built-in client %q; built in: %s (or give client.command, a client program)", name, strings.Join(BuiltinNames(), ", "))
}

// BuiltinNames lists the built-in adapters.
func BuiltinNames() []string {
	var names []string
	for _, b := range builtins {
		names = append(names, b.name)
	}
	return names
}
