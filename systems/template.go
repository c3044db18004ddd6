package systems

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/template"
)

// Member is one node as templates see it.
type Member struct {
	Name string
	// Index counts from 1 (n1 is 1).
	Index int
	Addr  string
}

// Vars are what a node's templates may use: {{.Node.Name}},
// {{.Node.Index}}, {{.Node.Addr}}, {{.Nodes}} and {{.Peers}} (every node,
// every other node: range over them for .Name and .Addr), {{.Size}},
// {{.RunID}}, {{.DataDir}} and {{.Params.NAME}}; the functions join,
// names, addrs, add and majority help build peer lists and quorums:
//
//	--initial-cluster={{range $i, $n := .Nodes}}{{if $i}},{{end}}{{$n.Name}}=http://{{$n.Addr}}:2380{{end}}
//	--peers={{addrs .Peers | join ","}}
type Vars struct {
	Node    Member
	Nodes   []Member
	Peers   []Member
	Size    int
	RunID   string
	DataDir string
	Params  map[string]string
}

var funcs = template.FuncMap{
	"join": func(sep string, list []string) string { return strings.Join(list, sep) },
	"names": func(ms []Member) []string {
		out := make([]string, len(ms))
		for i, m := range ms {
			out[i] = m.Name
		}
		return out
	},
	"addrs": func(ms []Member) []string {
		out := make([]string, len(ms))
		for i, m := range ms {
			out[i] = m.Addr
		}
		return out
	},
	"add":      func(a, b int) int { return a + b },
	"majority": func(n int) int { return n/2 + 1 },
}

// expand renders one template. name is the field it came from, so that
// text/template's own message ("template: command[6]:1:12: ...") says
// which one.
func expand(name, text string, v any) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	if n := len(rangeRE.FindAllStringIndex(text, -1)); n > MaxRanges {
		return "", fmt.Errorf("%w: %d ranges in one template, at most %d (each multiplies the work by the nodes)", ErrRenderedTooLarge, n, MaxRanges)
	}
	t, err := template.New(name).Option("missingkey=error").Funcs(funcs).Parse(text)
	if err != nil {
		return "", err
	}
	b := &boundedBuilder{max: MaxRendered}
	if err := t.Execute(b, v); err != nil {
		if errors.Is(err, ErrRenderedTooLarge) {
			return "", fmt.Errorf("it renders past %d bytes (a command, env value or check is a line, not a document): %w", MaxRendered, err)
		}
		return "", err
	}
	return b.String(), nil
}

// MaxRendered bounds what one template may render: rendering stops at the
// first byte past it, so that a small file cannot make faultline build
// gigabytes (five nested ranges over the nodes once rendered 58 MB a node).
const MaxRendered = 64 << 10

// MaxRanges bounds the range actions of one template, so that rendering
// one is bounded in time as well: four nested over 16 nodes are 65,536
// steps.
const MaxRanges = 4

var rangeRE = regexp.MustCompile(`\{\{-?\s*range\s`)

// ErrRenderedTooLarge is a template past the bounds: more than MaxRanges
// ranges, a rendering past MaxRendered, an environment value rendered
// past MaxString.
var ErrRenderedTooLarge = errors.New("template too large")

// boundedBuilder is a strings.Builder that refuses to grow past max.
type boundedBuilder struct {
	strings.Builder
	max int
}

func (b *boundedBuilder) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, ErrRenderedTooLarge
	}
	return b.Builder.Write(p)
}

// templateError is a template that did not render, with the field it is
// in (relative to the definition) for the caller to locate.
type templateError struct {
	Field string
	Err   error
}

func (e *templateError) Error() string { return e.Field + ": " + e.Err.Error() }

func (e *templateError) Unwrap() error { return e.Err }

func expandList(field string, list []string, v any) ([]string, error) {
	if list == nil {
		return nil, nil
	}
	out := make([]string, len(list))
	for i, s := range list {
		f := fmt.Sprintf("%s[%d]", field, i)
		r, err := expand(f, s, v)
		if err != nil {
			return nil, &templateError{f, err}
		}
		out[i] = r
	}
	return out, nil
}

// expandEnv renders a map of variables into NAME=value pairs, sorted.
func expandEnv(field string, env map[string]string, v any) ([]string, error) {
	keys := slices.Sorted(maps.Keys(env))
	var out []string
	for _, k := range keys {
		f := field + "." + k
		r, err := expand(f, env[k], v)
		if err != nil {
			return nil, &templateError{f, err}
		}
		if len(r) > MaxString { // the bound on a value as written holds for it rendered too
			return nil, &templateError{f, fmt.Errorf("%w: the value renders to %d bytes, past the %d an environment value may hold", ErrRenderedTooLarge, len(r), MaxString)}
		}
		out = append(out, k+"="+r)
	}
	return out, nil
}

// Node is one node of a cluster with every template rendered: what the
// harness starts (through package docker) and what clients and checks are
// given.
type Node struct {
	Name string
	Addr string
	Service
	// Env is Service.Env rendered, NAME=value.
	Env []string
	// Data is the data directory's path in the node ("" for none).
	Data string
	// Endpoint is what clients connect to.
	Endpoint string
	// ClientEnv is what a client program pinned to this node gets besides
	// faultline's own FAULTLINE_* variables.
	ClientEnv []string
	// ReadyCommand and LeaderCommand are the ready and leader commands
	// rendered for this node (nil when the system uses another way).
	ReadyCommand, LeaderCommand []string
}

// Cluster names the members a definition is rendered for.
type Cluster struct {
	Names  []string
	Addrs  []string
	RunID  string
	Params map[string]string
}

// Render renders the definition for every node of a cluster. Params
// missing from the cluster take their defaults. An error names the field
// whose template failed.
func (d *Definition) Render(c Cluster) ([]Node, error) {
	if len(c.Names) != len(c.Addrs) {
		return nil, fmt.Errorf("render %s: %d names for %d addresses", d.Name, len(c.Names), len(c.Addrs))
	}
	params := d.ParamValues(c.Params)
	members := make([]Member, len(c.Names))
	for i := range c.Names {
		members[i] = Member{Name: c.Names[i], Index: i + 1, Addr: c.Addrs[i]}
	}
	out := make([]Node, len(members))
	for i, m := range members {
		v := Vars{Node: m, Nodes: members, Size: len(members), RunID: c.RunID, DataDir: d.Data, Params: params}
		for _, o := range members {
			if o.Name != m.Name {
				v.Peers = append(v.Peers, o)
			}
		}
		svc, prefix := d.Service, ""
		if len(d.Nodes) > 0 {
			svc, prefix = d.Nodes[i].Service, "services."+d.Nodes[i].Name+"."
		}
		n, err := d.renderNode(prefix, svc, v)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

func (d *Definition) renderNode(prefix string, svc Service, v Vars) (Node, error) {
	n := Node{Name: v.Node.Name, Addr: v.Node.Addr, Service: svc, Data: d.Data}
	var err error
	if n.Command, err = expandList(prefix+"command", svc.Command, v); err != nil {
		return n, err
	}
	if n.Entrypoint, err = expandList(prefix+"entrypoint", svc.Entrypoint, v); err != nil {
		return n, err
	}
	if n.Env, err = expandEnv(prefix+"env", svc.Env, v); err != nil {
		return n, err
	}
	for _, f := range []struct {
		name string
		s    *string
	}{{"workdir", &n.Workdir}, {"user", &n.User}} {
		if *f.s, err = expand(prefix+f.name, *f.s, v); err != nil {
			return n, &templateError{prefix + f.name, err}
		}
	}
	n.Endpoint = d.Endpoint
	if n.Endpoint == "" {
		n.Endpoint = v.Node.Addr
		if len(d.Ports.Client) > 0 {
			n.Endpoint = net.JoinHostPort(v.Node.Addr, strconv.Itoa(int(d.Ports.Client[0].Lo)))
		}
	} else if n.Endpoint, err = expand("endpoint", n.Endpoint, v); err != nil {
		return n, &templateError{"endpoint", err}
	}
	if c := d.Client; c != nil {
		if n.ClientEnv, err = expandEnv("client.env", c.Env, v); err != nil {
			return n, err
		}
	}
	if r := d.Ready; r != nil && len(r.Command) > 0 {
		if n.ReadyCommand, err = expandList("ready.command", r.Command, v); err != nil {
			return n, err
		}
	} else if r == nil && len(svc.Healthcheck) > 0 {
		n.ReadyCommand = svc.Healthcheck // a compose service's healthcheck, as written
	}
	if l := d.Leader; l != nil && len(l.Command) > 0 {
		if n.LeaderCommand, err = expandList("leader.command", l.Command, v); err != nil {
			return n, err
		}
	}
	return n, nil
}

// ParamValues are the system's params with the cluster's settings over
// their defaults.
func (d *Definition) ParamValues(set map[string]string) map[string]string {
	out := map[string]string{}
	for k, p := range d.Params {
		out[k] = p.Default
	}
	for k, v := range set {
		out[k] = v
	}
	return out
}

// ParamNames lists the system's params, sorted.
func (d *Definition) ParamNames() []string {
	names := make([]string, 0, len(d.Params))
	for k := range d.Params {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
