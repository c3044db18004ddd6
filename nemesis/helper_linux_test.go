package nemesis_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/nemesis"
)

// pipeConn joins a controller to a helper served in this process: what
// one writes the other reads.
type pipeConn struct {
	io.Reader
	io.WriteCloser
}

// killOne makes the helper of node stop answering, as a helper container
// killed underneath the run would (without healing).
func killOne(t *testing.T, net *nemesis.Net, node string) {
	t.Helper()
	killers.mu.Lock()
	kill := killers.m[net][node]
	killers.mu.Unlock()
	if kill == nil {
		t.Fatalf("no helper of %s", node)
	}
	kill()
}

var killers = struct {
	mu sync.Mutex
	m  map[*nemesis.Net]map[string]func()
}{m: map[*nemesis.Net]map[string]func(){}}

// serveHelpers binds net to helpers served in this process over pipes,
// each acting on its node's namespace as a helper container would, and
// returns what kills the controller's side of every pipe at once (a
// controller that dies) and waits for the helpers to end.
func serveHelpers(t *testing.T, net *nemesis.Net) (kill func()) {
	t.Helper()
	var mu sync.Mutex
	var conns []io.Closer
	var served sync.WaitGroup
	err := net.Bind(context.Background(), func(ctx context.Context, n nemesis.Node) (nemesis.Agent, error) {
		toHelper, fromController := io.Pipe()
		toController, fromHelper := io.Pipe()
		// Killing a helper: its output ends, and it no longer acts.
		killers.mu.Lock()
		if killers.m[net] == nil {
			killers.m[net] = map[string]func(){}
		}
		killers.m[net][n.Name] = func() { fromHelper.CloseWithError(errors.New("killed")); toHelper.CloseWithError(errors.New("killed")) }
		killers.mu.Unlock()
		served.Add(1)
		go func() {
			defer served.Done()
			// The hello names the node; the helper acts in the namespace
			// at its path, as a helper acts in its own.
			err := nemesis.Serve(context.Background(), toHelper, fromHelper, func(n nemesis.Node) nemesis.Agent {
				return nemesis.NamespaceAgent(n)
			})
			fromHelper.CloseWithError(err)
		}()
		mu.Lock()
		conns = append(conns, fromController)
		mu.Unlock()
		return nemesis.NewRemoteAgent(ctx, n, pipeConn{toController, fromController})
	})
	must(t, err)
	return func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		served.Wait()
	}
}

// TestHelperProtocol drives real namespaces through the helper protocol:
// partitions and a gray link set, verified by probes sent and heard by the
// helpers; a controller that dies with a fault in force leaves nothing
// behind, as its helpers heal and delete faultline's table.
func TestHelperProtocol(t *testing.T) {
	testenv.EndToEnd(t)
	nodes := setUpNodes(t, 3)
	net := bind(t, nodes)
	kill := serveHelpers(t, net)
	ctx := context.Background()

	p := nemesis.Partition{Grudge: nemesis.Complete([]string{"n1"}, []string{"n2", "n3"})}
	must(t, net.Partition(ctx, p))
	if got := delivered(t, nodes[1], nodes[0], 3); got != 0 {
		t.Fatalf("n2->n1 should be cut, %d arrived", got)
	}
	obs, err := net.Verify(ctx)
	if err != nil {
		t.Fatalf("verify through the helpers: %v", err)
	}
	if udp := obs["udp/47001"]; len(udp["n1"]) != 0 || len(udp["n2"]) != 1 {
		t.Errorf("observed %v", obs)
	}
	// Port-scoped and rejecting: TCP probes too.
	must(t, net.Partition(ctx, nemesis.Partition{Grudge: nemesis.Complete([]string{"n1"}, []string{"n2", "n3"}), Scope: nemesis.Scope{Protocols: []string{"tcp"}, Ports: []nemesis.PortRange{nemesis.Port(2380)}}, Action: nemesis.Reject}))
	if _, err := net.Verify(ctx); err != nil {
		t.Fatalf("verify a rejecting port-scoped cut: %v", err)
	}
	// A delayed link: the userspace stage runs in the helper.
	must(t, net.Heal(ctx))
	must(t, net.SetGray(ctx, []nemesis.Gray{{From: "n1", To: "n2", Delay: 50 * time.Millisecond}}))
	if _, err := net.Verify(ctx); err != nil {
		t.Fatalf("verify a delayed link: %v", err)
	}
	lat := latencies(stream(t, nodes[0], nodes[1], 20, 5*time.Millisecond))
	if len(lat) != 20 || lat[0] < 45*time.Millisecond {
		t.Errorf("delay 50ms through the helper: %d arrived, fastest %v", len(lat), lat)
	}
	installed, err := net.Installed(ctx)
	must(t, err)
	if !installed["n1"] {
		t.Errorf("installed %v: n1 holds the queue rule", installed)
	}

	// A helper that dies with a fault in force: the next change fails
	// naming it, and a new helper puts the node's state back.
	must(t, net.Partition(ctx, p))
	killOne(t, net, "n2")
	err = net.Heal(ctx)
	if !errors.Is(err, nemesis.ErrHelperGone) || !strings.Contains(err.Error(), "the helper of n2 stopped answering") {
		t.Errorf("heal after n2's helper died: %v", err)
	}
	if got := delivered(t, nodes[1], nodes[0], 3); got != 3 {
		t.Errorf("healed through n2's new helper: n2->n1 got %d of 3", got)
	}

	// The controller dies with a cut in force: every helper heals.
	if err := net.Partition(ctx, p); err != nil {
		t.Fatalf("cut again through n2's new helper: %+v", err)
	}
	kill()
	for _, n := range nodes {
		if has, err := nemesis.HasTable(n.path()); err != nil || has {
			t.Errorf("%s keeps faultline's table after its helper's controller died (%v)", n.name, err)
		}
	}
	if got := delivered(t, nodes[1], nodes[0], 3); got != 3 {
		t.Errorf("after the helpers healed n2->n1 got %d of 3", got)
	}
}
