package scenarios

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/faultline/faultline/internal/yamlpos"
	"github.com/faultline/faultline/systems"
	"github.com/faultline/faultline/workloads"
	"github.com/faultline/faultline/workloads/clients"
)

// DefaultSystem is the system a scenario that names none runs.
const DefaultSystem = "etcd"

// resolveSystem finds the scenario's system definition: from a compose
// file, a system file beside the scenario, an inline definition, or the
// registry by name. Errors in a system file name that file; errors in an
// inline definition name the scenario's lines.
func (s *Scenario) resolveSystem(loc *yamlpos.Locator) error {
	c := &s.Cluster
	ref := c.System
	o := s.origin()
	switch {
	case c.Compose != "":
		if ref.Name != "" || ref.Inline != nil {
			return loc.Errorf("cluster.system", "give a system or a compose file, not both: the compose file's x-faultline section says what a system file would")
		}
		path := o.Path(c.Compose)
		if err := o.Check(c.Compose); err != nil {
			return loc.Errorf("cluster.compose", "%w", err)
		}
		d, err := systems.LoadCompose(path, c.Services)
		if err != nil {
			return loc.Errorf("cluster.compose", "%w", err)
		}
		if abs, err := filepath.Abs(path); err == nil {
			c.Compose = abs
		}
		c.Def = d
	case len(c.Services) > 0 && c.Attach == nil:
		return loc.Errorf("cluster.services", "names the services of a compose file: give cluster.compose too")
	case ref.Inline != nil:
		d := ref.Inline
		if d.Name == "" {
			d.Name = s.Name
		}
		dloc := loc.Under("cluster.system")
		d.SetLocator(dloc)
		if err := d.Validate(dloc); err != nil {
			return err
		}
		if err := d.Resolve(dloc, o); err != nil {
			return err
		}
		d.Source = "inline in " + s.Path
		c.Def = d
	case ref.IsFile():
		path := o.Path(ref.Name)
		if err := o.Check(ref.Name); err != nil {
			return loc.Errorf("cluster.system", "%w", err)
		}
		d, err := systems.Load(path)
		if err != nil {
			return loc.Errorf("cluster.system", "%w", err)
		}
		c.Def = d
	case ref.Name == "" && c.Attach != nil:
		// Attached to somebody's cluster with nothing said of it: no
		// ports, readiness or leader; the client comes from the workload.
		c.Def = &systems.Definition{Name: "attached", Source: "attach"}
	default:
		name := ref.Name
		if name == "" {
			name = DefaultSystem
			c.System.Name = name
		}
		if !systems.IsBuiltin(name) {
			return loc.Errorf("cluster.system", "unknown system %q; built in: %s, or a system file such as ./systems/mydb.yaml (docs/systems.md)", name, strings.Join(systems.BuiltinNames(), ", "))
		}
		d, err := systems.Builtin(name)
		if err != nil {
			return loc.Errorf("cluster.system", "%w", err)
		}
		c.Def = d
	}
	return nil
}

// SystemSource says where the system's definition is, for messages that
// ask the user to add a field to it.
func (s *Scenario) SystemSource() string {
	if d := s.Cluster.Def; d != nil && d.Source != "" {
		return d.Source
	}
	return s.Path
}

// validateSystem checks the scenario against what its system supports:
// the cluster's size and params, the read mode, the client and its
// workloads, and templates that must render for this cluster.
func (s *Scenario) validateSystem(loc *yamlpos.Locator) error {
	c := s.Cluster
	d := c.Def
	if c.Attach != nil {
		if err := s.validateAttach(loc); err != nil {
			return err
		}
	} else if err := d.CheckCluster(loc.Under("cluster"), c.Nodes, c.Params); err != nil {
		if errors.Is(err, systems.ErrInvalid) && !errors.Is(err, ErrInvalid) { // in the system's own file
			return loc.Errorf("cluster.system", "%w", err)
		}
		return err
	}
	if len(d.Nodes) > 0 && c.Nodes != len(d.Nodes) {
		return loc.Errorf("cluster.nodes", "the compose file's services give %d nodes (%s), not %d; leave nodes out", len(d.Nodes), strings.Join(d.NodeNames(0), ", "), c.Nodes)
	}
	w := s.Workload
	if !slices.Contains(d.Supports.ReadModes(), w.Reads) {
		return loc.Errorf("workload.reads", "system %s supports %s reads, not %s (its supports.reads, in %s)", d.Name, strings.Join(d.Supports.ReadModes(), ", "), w.Reads, s.SystemSource())
	}
	client := s.Client()
	switch {
	case client == nil:
		return loc.Errorf("workload.client", "system %s names no client: give workload.client.command, a client program (docs/adapters.md)", d.Name)
	case w.Client != nil:
		if err := systems.ValidateClient(loc.Under("workload.client"), w.Client); err != nil {
			return err
		}
	}
	runs := client.Workloads
	if len(runs) == 0 && client.Builtin != "" {
		runs = clients.Runs(client.Builtin) // the adapter's own list
	}
	if len(runs) > 0 && !slices.Contains(runs, w.Kind) {
		return loc.Errorf("workload.kind", "system %s's client runs the %s workloads, not %s", d.Name, strings.Join(runs, ", "), w.Kind)
	}
	for i, k := range client.Workloads {
		if _, err := workloads.Lookup(k); err != nil {
			return loc.Errorf(fmt.Sprintf("%s.workloads[%d]", s.clientField(), i), "unknown workload %q; known: %s", k, strings.Join(workloads.Names(), ", "))
		}
	}
	return nil
}

// clientField is where the client in force is written.
func (s *Scenario) clientField() string {
	if s.Workload.Client != nil {
		return "workload.client"
	}
	return "cluster.system.client"
}

// Client is the client the run uses: the workload's, else the system's.
func (s *Scenario) Client() *systems.Client {
	if s.Workload.Client != nil {
		return s.Workload.Client
	}
	if s.Cluster.Def != nil {
		return s.Cluster.Def.Client
	}
	return nil
}

func (s *Scenario) validateAttach(loc *yamlpos.Locator) error {
	a := s.Cluster.Attach
	n := 0
	for _, set := range []bool{a.Project != "", len(a.Names) > 0, len(a.Labels) > 0} {
		if set {
			n++
		}
	}
	if n != 1 {
		return loc.Errorf("cluster.attach", "select containers one way: project (with services), names, or labels")
	}
	if len(a.Services) > 0 && a.Project == "" {
		return loc.Errorf("cluster.attach.services", "needs project: the compose project the services belong to")
	}
	if s.Cluster.Image != "" {
		return loc.Errorf("cluster.image", "an attached run starts nothing, so it has no image to replace")
	}
	if len(s.Cluster.Params) > 0 {
		return loc.Errorf("cluster.params", "an attached run starts nothing, so its params change nothing")
	}
	if s.Cluster.Nodes != 0 {
		return loc.Errorf("cluster.nodes", "an attached run has the nodes its selector finds; leave nodes out")
	}
	return nil
}

// NodeNames are the names of the scenario's nodes, where they are known
// before the run: n1..nN, the compose services, or the containers an
// attach selector names (nil when only the run can tell).
func (s *Scenario) NodeNames() []string {
	if a := s.Cluster.Attach; a != nil {
		switch {
		case len(a.Names) > 0:
			return a.Names
		case len(a.Services) > 0:
			return a.Services
		}
		return nil
	}
	return s.Cluster.Def.NodeNames(s.Cluster.Nodes)
}
