// Package systems holds what faultline knows of a system under test, as
// data: a Definition says which image a node runs (or how to build it),
// its command line and environment templated per node, its ports by role,
// its data directory, how to tell it is ready and who leads, which log
// files to keep, and what it supports. The registry in registry.go is the
// one place that knows systems by name: the built-in ones (etcd, refkv) are
// definitions of the same kind as a user's system file, embedded beside
// this package.
//
// Definitions enter from a system file (Load), inline in a scenario
// (validated with the scenario's Locator), from a docker-compose file
// (LoadCompose), or by name (Builtin). They leave as Nodes, one per node of
// a cluster with every template rendered (Render), which the harness hands
// to package docker; nothing here talks to Docker or to a node.
package systems

import (
	"errors"
	"fmt"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/internal/yamlpos"
)

// ErrInvalid wraps every error about the content of a definition.
var ErrInvalid = errors.New("invalid system definition")

// Definition is one system under test. Every string of the node's process
// (command, entrypoint, env values, workdir, user, endpoint, the ready and
// leader commands, the client's env values) is a Go text/template over
// Vars, rendered for each node.
type Definition struct {
	// Name names the system in messages and `faultline list`.
	Name        string `yaml:"name"`
	Description string `yaml:"description,omitempty"`
	// Service is what every node runs: image, build, command, ... .
	Service `yaml:",inline"`
	// Data is a folder in the node that survives a kill and restart of the
	// node and starts empty in every run (a volume of the run's own);
	// templates see it as {{.DataDir}}.
	Data string `yaml:"data,omitempty"`
	// Ports by role: what clients use and what the nodes replicate over,
	// so that a fault can say `ports: peer`.
	Ports Ports `yaml:"ports,omitempty"`
	// Endpoint is what a client is told to connect to (FAULTLINE_ENDPOINT);
	// default ADDR:PORT on the first client port.
	Endpoint string  `yaml:"endpoint,omitempty"`
	Ready    *Ready  `yaml:"ready,omitempty"`
	Leader   *Leader `yaml:"leader,omitempty"`
	// Logs are files inside each node collected at teardown, beside its
	// standard output and error.
	Logs []string `yaml:"logs,omitempty"`
	// Params are the system's own knobs, set by a scenario's
	// cluster.params and seen by templates as {{.Params.NAME}}.
	Params   map[string]Param `yaml:"params,omitempty"`
	Supports Supports         `yaml:"supports,omitempty"`
	// Client is how clients reach the system unless the scenario says
	// otherwise (workload.client).
	Client *Client `yaml:"client,omitempty"`

	// Nodes are the nodes of a docker-compose file, each with its own
	// service; empty for a definition whose nodes all run Service and are
	// named n1..nN.
	Nodes []NamedService `yaml:"-"`
	// Source is where the definition came from ("built in", a file), for
	// messages.
	Source string `yaml:"-"`
	// Notes say what a compose file's keys were mapped to (ports dropped,
	// restart policy forced to no), for the start of a run.
	Notes []string `yaml:"-"`
	// loc locates the definition's fields in the file that holds it, for
	// errors found after loading (a template that does not render for a
	// cluster of this size).
	loc *yamlpos.Locator
}

// SetLocator says where the definition's fields are, for later errors.
func (d *Definition) SetLocator(loc *yamlpos.Locator) { d.loc = loc }

// Service is what a node runs.
type Service struct {
	// Image is the image's reference: one the engine has, or, with Build,
	// the tag faultline builds.
	Image string `yaml:"image,omitempty"`
	Build *Build `yaml:"build,omitempty"`
	// Command and Entrypoint replace the image's CMD and ENTRYPOINT.
	Command    []string          `yaml:"command,omitempty"`
	Entrypoint []string          `yaml:"entrypoint,omitempty"`
	Env        map[string]string `yaml:"env,omitempty"`
	Workdir    string            `yaml:"workdir,omitempty"`
	User       string            `yaml:"user,omitempty"`

	// Set from a docker-compose file only.
	Mounts     []Mount           `yaml:"-"`
	Tmpfs      []string          `yaml:"-"`
	Aliases    []string          `yaml:"-"`
	ExtraHosts []string          `yaml:"-"` // host:ip
	Labels     map[string]string `yaml:"-"`
	Init       bool              `yaml:"-"`
	ReadOnly   bool              `yaml:"-"`
	StopSignal string            `yaml:"-"`
	// Healthcheck is the service's healthcheck command: its readiness
	// check unless the definition gives one.
	Healthcheck []string `yaml:"-"`
}

// NamedService is a node of a docker-compose file.
type NamedService struct {
	Name string
	Service
}

// Mount is a volume or bind mount of a compose service. A named volume
// becomes a volume of the run's own (fresh in every run); a bind mount is
// kept as written.
type Mount struct {
	Type     string // "volume", "bind"
	Source   string // the volume's name, or the host path
	Target   string
	ReadOnly bool
}

// Build makes the image locally through the Engine API, whenever the
// hash of its inputs differs from the one the image was built from.
type Build struct {
	// Context is the build context, a folder relative to the definition's
	// file; it holds the Dockerfile.
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile,omitempty"`
	// Args are build arguments (ARG in the Dockerfile).
	Args map[string]string `yaml:"args,omitempty"`
	// Prepare runs on the host before the build, for what a Dockerfile
	// without a base image cannot do itself (compile a static binary,
	// unpack Debian packages into a root filesystem).
	Prepare *Prepare `yaml:"prepare,omitempty"`
	// Inputs are more files (globs, relative to the definition's file)
	// whose contents decide whether the image is stale, besides the
	// context: the sources Prepare compiles, say.
	Inputs []string `yaml:"inputs,omitempty"`
}

// Prepare is a command run before an image build. It writes files into
// the folder {{.Out}} (also $FAULTLINE_BUILD_OUT), which join the build
// context; it runs only when the image is built.
type Prepare struct {
	Command []string          `yaml:"command"`
	Dir     string            `yaml:"dir,omitempty"` // default: the context
	Env     map[string]string `yaml:"env,omitempty"`
}

// Ports are a system's ports by role.
type Ports struct {
	// Client ports are what clients connect to; the harness's own client
	// traffic is never cut by a partition.
	Client []PortRange `yaml:"client,omitempty"`
	// Peer ports carry the nodes' own traffic (replication, gossip,
	// elections): `ports: peer` in a fault cuts only these.
	Peer []PortRange `yaml:"peer,omitempty"`
}

// Role returns the ports of a role ("client" or "peer").
func (p Ports) Role(role string) ([]PortRange, bool) {
	switch role {
	case "client":
		return p.Client, true
	case "peer":
		return p.Peer, true
	}
	return nil, false
}

// PortRange is a port (Lo == Hi) or an inclusive range; in YAML 2380 or
// "9100-9105" (history.PortRange: one type for the ports a system
// declares and the ports a fault cuts).
type PortRange = history.PortRange

// ParsePortRange reads "2380" or "9100-9105".
func ParsePortRange(s string) (PortRange, error) { return history.ParsePortRange(s) }

// Ready is how faultline tells that a node serves: exactly one of an HTTP
// request, a TCP connect, a command run inside the node (exit status 0),
// or the client's own answer (a client program's `ready` request, or the
// built-in adapter's check). Every node must pass.
type Ready struct {
	HTTP    *HTTPCheck `yaml:"http,omitempty"`
	TCP     *TCPCheck  `yaml:"tcp,omitempty"`
	Command []string   `yaml:"command,omitempty"`
	Client  bool       `yaml:"client,omitempty"`
	// Timeout bounds the wait for every node (cluster.ready_timeout, when
	// set, wins); default 60s.
	Timeout time.Duration `yaml:"timeout,omitempty"`
}

// HTTPCheck is a GET of a path on a node's port that must answer Status
// (default 200).
type HTTPCheck struct {
	Port   int    `yaml:"port"`
	Path   string `yaml:"path,omitempty"`
	Status int    `yaml:"status,omitempty"`
}

// TCPCheck is a connect to a node's port.
type TCPCheck struct {
	Port int `yaml:"port"`
}

// Leader is how faultline finds the leader, for faults aimed at
// `node: leader`: exactly one of an HTTP GET answering JSON with the
// leader in Field, a command run inside each node that prints it, or the
// client's own answer. The leader may be named by node name, address or
// address:port. A system without a Leader has leader-targeted faults
// refused.
type Leader struct {
	HTTP    *HTTPLeader `yaml:"http,omitempty"`
	Command []string    `yaml:"command,omitempty"`
	Client  bool        `yaml:"client,omitempty"`
	// Timeout is how long to wait for an election in progress to name a
	// leader; default 5s.
	Timeout time.Duration `yaml:"timeout,omitempty"`
}

// HTTPLeader asks every node GET Path on Port and reads the leader from
// the JSON answer's Field (dotted for nested objects: "status.leader").
// With Term set, the answer with the highest term wins (a node cut off
// may still name an old leader); without, the answer most nodes give.
type HTTPLeader struct {
	Port  int    `yaml:"port"`
	Path  string `yaml:"path"`
	Field string `yaml:"field"`
	Term  string `yaml:"term,omitempty"`
}

// Param is one of a system's knobs.
type Param struct {
	Description string `yaml:"description,omitempty"`
	Default     string `yaml:"default,omitempty"`
	// Values, when given, are the only values allowed.
	Values []string `yaml:"values,omitempty"`
}

// Supports says what a system can be put through; validation refuses the
// rest before a run starts.
type Supports struct {
	// Nodes is the cluster sizes it runs with; default 1 to MaxNodes.
	Nodes *NodeRange `yaml:"nodes,omitempty"`
	// Kill: a node may be killed and restarted (default true). Say false
	// for a system that keeps its state in memory only.
	Kill *bool `yaml:"kill,omitempty"`
	// Pause: a node may be frozen and thawed (default true).
	Pause *bool `yaml:"pause,omitempty"`
	// Reads are the read modes a scenario may ask for (workload.reads);
	// default [linearizable].
	Reads []string `yaml:"reads,omitempty"`
}

// NodeRange is an inclusive range of cluster sizes.
type NodeRange struct {
	Min int `yaml:"min"`
	Max int `yaml:"max"`
}

// MaxNodes is the most nodes faultline starts.
const MaxNodes = 16

// NodeRange is the sizes the system supports.
func (s Supports) NodeRange() NodeRange {
	if s.Nodes == nil {
		return NodeRange{1, MaxNodes}
	}
	return *s.Nodes
}

// CanKill reports whether nodes may be killed and restarted.
func (s Supports) CanKill() bool { return s.Kill == nil || *s.Kill }

// CanPause reports whether nodes may be paused.
func (s Supports) CanPause() bool { return s.Pause == nil || *s.Pause }

// ReadModes are the read modes a scenario may ask for.
func (s Supports) ReadModes() []string {
	if len(s.Reads) == 0 {
		return []string{"linearizable"}
	}
	return s.Reads
}

// Client is how clients talk to the system: a built-in Go adapter by name,
// or a client program in any language speaking JSON lines
// (docs/adapters.md).
type Client struct {
	Builtin string   `yaml:"builtin,omitempty"`
	Command []string `yaml:"command,omitempty"`
	// Env adds variables to a client program's environment; values are
	// templates rendered for the node the client is pinned to.
	Env map[string]string `yaml:"env,omitempty"`
	// Workloads are the workloads the client runs (default: all, for a
	// client program; a built-in client's own, which it says itself).
	Workloads []string `yaml:"workloads,omitempty"`
	// Image is where a client program runs when the clients run inside
	// the run's network (a controller that does not reach the nodes'
	// addresses): an image holding the program's runtime (python3, say).
	// faultline copies its own binary and the folders of the files the
	// command names into a container of it. Build builds it, as a
	// system's build: does.
	Image string `yaml:"image,omitempty"`
	Build *Build `yaml:"build,omitempty"`
}

// Marshal writes the definition as YAML (a system file).
func (d *Definition) Marshal() ([]byte, error) {
	return yaml.MarshalWithOptions(d, yaml.IndentSequence(true))
}

// NodeNames are the names of a cluster's nodes: the compose services, or
// n1..nN.
func (d *Definition) NodeNames(n int) []string {
	if len(d.Nodes) > 0 {
		names := make([]string, len(d.Nodes))
		for i, s := range d.Nodes {
			names[i] = s.Name
		}
		return names
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("n%d", i+1)
	}
	return names
}

// ResolvePorts turns a fault's port scope (numbers, ranges such as
// "9100-9105", and roles: peer, client) into port ranges.
func (d *Definition) ResolvePorts(spec []string) ([]PortRange, error) {
	var out []PortRange
	for _, s := range spec {
		if ports, ok := d.Ports.Role(s); ok {
			if len(ports) == 0 {
				return nil, fmt.Errorf("system %s declares no %s ports (ports.%s in %s)", d.Name, s, s, d.Source)
			}
			out = append(out, ports...)
			continue
		}
		r, err := ParsePortRange(s)
		if err != nil {
			return nil, fmt.Errorf("%w; or a role of the system's ports: peer, client", err)
		}
		out = append(out, r)
	}
	return out, nil
}
