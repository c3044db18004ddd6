package workloads

import (
	"fmt"
	"sort"
	"strings"
)

// BuiltinOptions are what a scenario tells a built-in adapter.
type BuiltinOptions struct {
	// Reads is the read mode: linearizable, or serializable (answered from
	// the node's local state, which may be stale).
	Reads string
}

// builtins are the Go adapters faultline ships, by the name a system's
// definition gives in client.builtin (the names are listed in package
// systems, which validates definitions; a test holds the lists equal). A
// system without one uses a client program (External); adding a system
// needs no entry here.
var builtins = map[string]func(BuiltinOptions) Adapter{
	"etcd":  func(o BuiltinOptions) Adapter { return Etcd{Serializable: o.Reads == "serializable"} },
	"refkv": func(BuiltinOptions) Adapter { return RefKV{} },
}

// Builtin returns a built-in adapter by name.
func Builtin(name string, o BuiltinOptions) (Adapter, error) {
	f, ok := builtins[name]
	if !ok {
		return nil, fmt.Errorf("no built-in client %q; built in: %s (or give client.command, a client program)", name, strings.Join(BuiltinNames(), ", "))
	}
	return f(o), nil
}

// BuiltinNames lists the built-in adapters.
func BuiltinNames() []string {
	var names []string
	for k := range builtins {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
