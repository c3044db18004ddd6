package harness

import (
	"path/filepath"
	"slices"

	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/scenarios"
	"github.com/faultline/faultline/systems"
	"github.com/faultline/faultline/workloads"
)

// Listing is what `faultline list` shows: the fault catalogue, the
// workloads, the built-in systems and the scenarios shipped with the
// source tree.
type Listing struct {
	Faults    []nemesis.Kind
	Workloads []*workloads.Kind
	Systems   []*systems.Definition
	// SystemErrors are built-in systems that did not load, by name.
	SystemErrors map[string]error
	Scenarios    []Listed
	// ScenariosErr says why no scenarios are listed, if none are.
	ScenariosErr error
	Root         string
}

// Listed is a shipped scenario.
type Listed struct {
	Path        string // relative to the source tree
	Description string
}

// List gathers the Listing.
func List() Listing {
	l := Listing{Faults: nemesis.Kinds(), Workloads: workloads.Kinds(), SystemErrors: map[string]error{}}
	for _, name := range systems.BuiltinNames() {
		d, err := systems.Builtin(name)
		if err != nil {
			l.SystemErrors[name] = err
			continue
		}
		l.Systems = append(l.Systems, d)
	}
	root, err := systems.SourceRoot()
	if err != nil {
		l.ScenariosErr = err
		return l
	}
	l.Root = root
	var files []string
	for _, g := range []string{"scenarios/*.yaml", "scenarios/bugs/*.yaml", "examples/*/scenarios/*.yaml", "examples/*/*-compose.yaml"} {
		m, _ := filepath.Glob(filepath.Join(root, g))
		files = append(files, m...)
	}
	for _, f := range slices.Compact(files) {
		desc := ""
		if sc, err := scenarios.Load(f); err == nil {
			desc = sc.Description
		}
		rel, _ := filepath.Rel(root, f)
		l.Scenarios = append(l.Scenarios, Listed{Path: rel, Description: desc})
	}
	return l
}
