package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/scenarios"
)

// How the nemesis reaches the nodes' network namespaces (Options.Nemesis).
const (
	// NemesisAuto: enter them from this process where it can (root on the
	// engine's own host, the engine's containers in sight), else helpers.
	NemesisAuto = "auto"
	// NemesisDirect: enter them from this process (/proc/PID/ns/net).
	NemesisDirect = "direct"
	// NemesisHelper: a helper container in each node's namespace runs the
	// nemesis (decision 13).
	NemesisHelper = "helper"
)

// Where the clients run (Options.Clients).
const (
	// ClientsAuto: on this host where it reaches the nodes' addresses,
	// else in the run's network.
	ClientsAuto = "auto"
	// ClientsHost: on this host, reaching the nodes on their addresses.
	ClientsHost = "host"
	// ClientsNetwork: in a container on the run's network (decision 13).
	ClientsNetwork = "network"
)

// Placement is where a run's faults and clients run: decided once, by
// place, when the nodes run; the log, results.json and the report all
// read it.
type Placement struct {
	// Nemesis is NemesisDirect or NemesisHelper; Clients is ClientsHost or
	// ClientsNetwork.
	Nemesis string `json:"nemesis,omitempty"`
	Clients string `json:"clients,omitempty"`
	// WhyNemesis and WhyClients say why helpers, or the network, when
	// they were not asked for: what this host lacks.
	WhyNemesis string `json:"why_nemesis,omitempty"`
	WhyClients string `json:"why_clients,omitempty"`
}

// Words say, for the report, how the run reached its nodes.
func (p Placement) Words() string {
	var parts []string
	switch p.Nemesis {
	case NemesisDirect:
		parts = append(parts, "faults applied from the controller, in each node's namespace")
	case NemesisHelper:
		parts = append(parts, "faults applied by a helper container in each node's namespace")
	}
	switch p.Clients {
	case ClientsHost:
		parts = append(parts, "clients on the controller's host; the history's times taken there")
	case ClientsNetwork:
		parts = append(parts, "clients in a container on the run's network; the history's times taken by the controller around each round trip to it, so each operation's interval holds it")
	}
	return strings.Join(parts, "; ")
}

// checkPlacementOptions refuses a placement option that names no place.
func checkPlacementOptions(o Options) error {
	switch o.Nemesis {
	case "", NemesisAuto, NemesisDirect, NemesisHelper:
	default:
		return fmt.Errorf("%w: nemesis %q: want auto, direct or helper", scenarios.ErrInvalid, o.Nemesis)
	}
	switch o.Clients {
	case "", ClientsAuto, ClientsHost, ClientsNetwork:
	default:
		return fmt.Errorf("%w: clients %q: want auto, host or network", scenarios.ErrInvalid, o.Clients)
	}
	return nil
}

// hostFacts are what this process can do, known before any node runs.
type hostFacts struct {
	// notDirect says why this process cannot enter namespaces of the
	// engine's containers ("" when it may): not root, or a remote engine.
	notDirect string
}

// hostNow reads this process's facts.
func hostNow() hostFacts {
	if !hasCaps() {
		return hostFacts{notDirect: "this process lacks CAP_SYS_ADMIN and CAP_NET_ADMIN (not root)"}
	}
	if h := os.Getenv("DOCKER_HOST"); h != "" && !strings.HasPrefix(h, "unix://") {
		return hostFacts{notDirect: "the engine is remote (DOCKER_HOST=" + h + ")"}
	}
	return hostFacts{}
}

// place decides where the faults and the clients run, from what was
// asked (o), what this process can do (host), and the nodes: the
// nemesis enters their namespaces from here when it can and may, else
// runs in helpers; the clients run on this host when it reaches the
// nodes' addresses (reach), else in the run's network. The one place it
// is decided.
func place(ctx context.Context, o Options, host hostFacts, nodes []docker.Node, reach func(ctx context.Context, addr string) (bool, string)) (Placement, error) {
	p := Placement{Nemesis: NemesisDirect, Clients: ClientsHost}
	switch o.Nemesis {
	case NemesisHelper:
		p.Nemesis = NemesisHelper
	default:
		why := host.notDirect
		for _, n := range nodes {
			if why != "" {
				break
			}
			why = cannotEnter(n)
		}
		switch {
		case why != "" && o.Nemesis == NemesisDirect:
			return p, fmt.Errorf("%w: cannot enter the nodes' network namespaces from here: %s; run with -nemesis helper (or auto)", ErrNemesis, why)
		case why != "":
			p.Nemesis, p.WhyNemesis = NemesisHelper, why
		}
	}
	switch o.Clients {
	case ClientsNetwork:
		p.Clients = ClientsNetwork
	case ClientsHost:
	default:
		if len(nodes) > 0 {
			if ok, why := reach(ctx, nodes[0].Addr.String()); !ok {
				p.Clients, p.WhyClients = ClientsNetwork, why
			}
		}
	}
	return p, nil
}

// hasCaps reports whether this process's effective capabilities include
// CAP_NET_ADMIN (12) and CAP_SYS_ADMIN (21).
func hasCaps() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<12) != 0 && caps&(1<<21) != 0
		}
	}
	return false
}

// cannotEnter says why the node's namespace is out of sight of this
// process ("" when it is in sight): its PID here must be the container's
// (its cgroup names the container), and its namespace must open.
func cannotEnter(n docker.Node) string {
	cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", n.Pid))
	if err != nil || !strings.Contains(string(cg), n.ContainerID) {
		return fmt.Sprintf("%s's process %d is not in sight here (another host, or another PID namespace)", n.Name, n.Pid)
	}
	f, err := os.Open(n.NetNS())
	if err != nil {
		return fmt.Sprintf("%s's namespace cannot be opened: %v", n.Name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Sprintf("%s's namespace cannot be closed again: %v", n.Name, err)
	}
	return ""
}

// reachable says whether this host reaches a node's address: a connect to
// a port nothing listens on is refused by the node (a route there), or
// fails at once or times out (none). Why not, if not.
func reachable(ctx context.Context, addr string) (bool, string) {
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(addr, "9"))
	if err == nil {
		_ = c.Close() // it answered: how it hangs up changes nothing
		return true, ""
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true, ""
	}
	return false, fmt.Sprintf("this host does not reach the nodes' addresses (%v)", err)
}
