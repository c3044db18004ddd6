package clients_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/workloads"
	"github.com/faultline/faultline/workloads/clients"
	"github.com/faultline/faultline/workloads/nodecheck"
)

// pipes joins a Relay to a relay served in this process.
type pipes struct {
	io.Reader
	io.WriteCloser
}

func relay(t *testing.T, spec clients.RelaySpec, checks *clients.RelaySpec) *clients.Relay {
	t.Helper()
	toServer, fromClient := io.Pipe()
	toClient, fromServer := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := clients.ServeRelay(context.Background(), toServer, fromServer)
		fromServer.CloseWithError(err)
		done <- err
	}()
	r, err := clients.NewRelay(context.Background(), pipes{toClient, fromClient}, spec, checks)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		<-done
	})
	return r
}

// serve starts one HTTP server per answer on loopback, and returns the
// nodes (all on 127.0.0.1) and the port of each.
func serve(t *testing.T, handlers ...http.HandlerFunc) ([]workloads.Node, []int) {
	ports := testenv.HTTPServers(t, handlers...)
	nodes := make([]workloads.Node, len(ports))
	for i := range ports {
		nodes[i] = workloads.Node{Name: fmt.Sprintf("n%d", i+1), Addr: "127.0.0.1"}
	}
	return nodes, ports
}

// TestRelay runs clients, checks and leader questions through the relay,
// as a client container on the run's network serves them: a client
// program started on the relay's side, HTTP and TCP checks asked from
// there, and the operations' outcomes and values back, timeouts included.
func TestRelay(t *testing.T) {
	if _, err := os.Stat("/proc/self"); err != nil {
		t.Skip("needs Linux")
	}
	ctx := context.Background()
	r := relay(t, clients.RelaySpec{Command: []string{"python3", "testdata/client.py", "good", t.TempDir() + "/marker"}, OpTimeout: time.Second, Kind: "register"}, nil)
	c, err := r.Open(ctx, workloads.Node{Name: "n1", Endpoint: "http://127.0.0.1:1"}, "register", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		octx, cancel := context.WithTimeout(ctx, time.Second)
		b, _ := json.Marshal(i)
		res := c.Invoke(octx, workloads.Register.Op("write", "k", b))
		cancel()
		if res.Outcome != workloads.OK {
			t.Fatalf("write %d through the relay: %+v", i, res)
		}
	}
	octx, cancel := context.WithTimeout(ctx, time.Second)
	res := c.Invoke(octx, workloads.Register.Op("read", "k", json.RawMessage("null")))
	cancel()
	if res.Outcome != workloads.OK || string(res.Value) != "3" {
		t.Errorf("read through the relay: %+v (%s), want 3", res, res.Value)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Close())

	nodes, ports := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ready" {
			fmt.Fprint(w, `{"leader": "n1", "term": 7}`)
			return
		}
		http.Error(w, "not ready", 503)
	})
	must(nodecheck.HTTPCheck(r, ports[0], "/ready", 0)(ctx, nodes[0]))
	if err := nodecheck.HTTPCheck(r, ports[0], "/x", 0)(ctx, nodes[0]); err == nil || !strings.Contains(err.Error(), "answered 503") {
		t.Errorf("a failing HTTP check through the relay: %v", err)
	}
	must(nodecheck.TCPCheck(r, ports[0])(ctx, nodes[0]))
	if l, err := nodecheck.HTTPLeader(r, ports[0], "/ready", "leader", "term")(ctx, nodes); err != nil || l != "n1" {
		t.Errorf("leader through the relay: %q %v", l, err)
	}
	// The program does not answer leader: the error says so.
	if _, err := r.Leader(ctx, nodes); !errors.Is(err, nodecheck.ErrNoLeader) {
		t.Errorf("leader from a program that cannot say: %v", err)
	}
}

// TestRelayChecksClient: a scenario's own client program runs the
// workload while the system's client answers readiness and leader
// questions, in the client container as on the controller's host.
func TestRelayChecksClient(t *testing.T) {
	if _, err := os.Stat("/proc/self"); err != nil {
		t.Skip("needs Linux")
	}
	ctx := context.Background()
	nodes := []workloads.Node{{Name: "n1", Endpoint: "http://127.0.0.1:1", Env: []string{"LEADER_IS=n1"}}}
	work := clients.RelaySpec{Command: []string{"python3", "testdata/client.py", "good", t.TempDir() + "/marker"}, OpTimeout: time.Second, Kind: "register", Nodes: nodes}
	checks := clients.RelaySpec{Command: []string{"python3", "testdata/client.py", "v2"}, OpTimeout: time.Second, Kind: "register", Nodes: nodes}
	if _, err := relay(t, work, nil).Leader(ctx, nodes); !errors.Is(err, nodecheck.ErrNoLeader) {
		t.Fatalf("leader from the workload's program, which cannot say: %v", err)
	}
	r := relay(t, work, &checks)
	if l, err := r.Leader(ctx, nodes); err != nil || l != "n1" {
		t.Errorf("leader from the system's client: %q %v", l, err)
	}
	if err := r.WaitReady(ctx, nodes); err != nil {
		t.Errorf("ready from the system's client: %v", err)
	}
	c, err := r.Open(ctx, nodes[0], "register", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	octx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if res := c.Invoke(octx, workloads.Register.Op("write", "k", json.RawMessage("1"))); res.Outcome != workloads.OK {
		t.Errorf("write through the workload's program: %+v", res)
	}
}

// A relay that dies: every call after fails naming it, and an operation
// is an unknown outcome (a read, a failure), as for any lost client.
func TestRelayGone(t *testing.T) {
	toServer, fromClient := io.Pipe()
	toClient, fromServer := io.Pipe()
	go clients.ServeRelay(context.Background(), toServer, fromServer)
	r, err := clients.NewRelay(context.Background(), pipes{toClient, fromClient}, clients.RelaySpec{Builtin: "refkv"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.Open(context.Background(), workloads.Node{Name: "n1", Endpoint: "http://127.0.0.1:1"}, "register", 0)
	if err != nil {
		t.Fatal(err)
	}
	fromServer.CloseWithError(errors.New("killed"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if res := c.Invoke(ctx, workloads.Register.Op("write", "k", json.RawMessage("1"))); res.Outcome != workloads.Unknown || !errors.Is(res.Err, clients.ErrRelayGone) {
		t.Errorf("write through a dead relay: %+v", res)
	}
	if _, err := r.Open(ctx, workloads.Node{Name: "n2"}, "register", 1); !errors.Is(err, clients.ErrRelayGone) {
		t.Errorf("open through a dead relay: %v", err)
	}
}
