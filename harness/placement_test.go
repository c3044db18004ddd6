package harness

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/faultline/faultline/docker"
)

// TestPlace: where faults and clients run is decided by place alone,
// from what was asked, what this process can do and the nodes.
func TestPlace(t *testing.T) {
	// This process stands in for a node in sight; PID 1's namespace is
	// another PID's, not the "container" it claims to be.
	inSight := []docker.Node{{Name: "n1", Pid: os.Getpid(), Addr: netip.MustParseAddr("10.213.0.11")}}
	outOfSight := []docker.Node{{Name: "n1", Pid: 1, ContainerID: "not-this-one", Addr: netip.MustParseAddr("10.213.0.11")}}
	reaches := func(context.Context, string) (bool, string) { return true, "" }
	noRoute := func(context.Context, string) (bool, string) {
		return false, "this host does not reach the nodes' addresses (no route)"
	}
	root, user := hostFacts{}, hostFacts{notDirect: "this process lacks CAP_SYS_ADMIN and CAP_NET_ADMIN (not root)"}
	for _, tc := range []struct {
		name  string
		o     Options
		host  hostFacts
		nodes []docker.Node
		reach func(context.Context, string) (bool, string)
		want  Placement
		err   string
	}{
		{"all from here", Options{}, root, inSight, reaches, Placement{Nemesis: NemesisDirect, Clients: ClientsHost}, ""},
		{"helpers when not root", Options{}, user, inSight, reaches, Placement{Nemesis: NemesisHelper, Clients: ClientsHost, WhyNemesis: user.notDirect}, ""},
		{"helpers when the nodes are out of sight", Options{}, root, outOfSight, reaches,
			Placement{Nemesis: NemesisHelper, Clients: ClientsHost, WhyNemesis: "n1's process 1 is not in sight here (another host, or another PID namespace)"}, ""},
		{"helpers asked for", Options{Nemesis: NemesisHelper}, root, inSight, reaches, Placement{Nemesis: NemesisHelper, Clients: ClientsHost}, ""},
		{"direct asked for, and impossible", Options{Nemesis: NemesisDirect}, root, outOfSight, reaches, Placement{}, "cannot enter the nodes' network namespaces from here: n1's process 1 is not in sight"},
		{"the network when this host has no route", Options{}, root, inSight, noRoute,
			Placement{Nemesis: NemesisDirect, Clients: ClientsNetwork, WhyClients: "this host does not reach the nodes' addresses (no route)"}, ""},
		{"the network asked for", Options{Clients: ClientsNetwork}, root, inSight, reaches, Placement{Nemesis: NemesisDirect, Clients: ClientsNetwork}, ""},
		{"the host asked for", Options{Clients: ClientsHost}, root, inSight, noRoute, Placement{Nemesis: NemesisDirect, Clients: ClientsHost}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := place(context.Background(), tc.o, tc.host, tc.nodes, tc.reach)
			switch {
			case tc.err != "":
				if !errors.Is(err, ErrNemesis) || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %v, want %q", err, tc.err)
				}
			case err != nil:
				t.Fatal(err)
			case got != tc.want:
				t.Errorf("placement %+v, want %+v", got, tc.want)
			}
		})
	}
	if w := (Placement{Nemesis: NemesisHelper, Clients: ClientsNetwork}).Words(); !strings.Contains(w, "helper container in each node's namespace") || !strings.Contains(w, "clients in a container on the run's network") {
		t.Errorf("the report's words: %q", w)
	}
}
