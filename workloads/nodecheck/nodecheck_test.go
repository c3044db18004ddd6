package nodecheck_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/workloads"
	"github.com/faultline/faultline/workloads/nodecheck"
)

// fakeExec answers each node's command from a table.
type fakeExec map[string]struct {
	out  string
	code int
}

func (f fakeExec) Exec(_ context.Context, node string, _ []string) ([]byte, int, error) {
	r, ok := f[node]
	if !ok {
		return nil, -1, errors.New("no such node")
	}
	return []byte(r.out), r.code, nil
}

// serve starts one HTTP server per answer on loopback, and returns the
// nodes (all on 127.0.0.1, which is what the checks dial) and the port of
// each: the servers share no port, so each node is its own server.
func serve(t *testing.T, handlers ...http.HandlerFunc) ([]workloads.Node, []int) {
	ports := testenv.HTTPServers(t, handlers...)
	nodes := make([]workloads.Node, len(ports))
	for i := range ports {
		nodes[i] = workloads.Node{Name: fmt.Sprintf("n%d", i+1), Addr: "127.0.0.1"}
	}
	return nodes, ports
}

func TestReadyChecks(t *testing.T) {
	ctx := context.Background()
	nodes, ports := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ready" {
			w.WriteHeader(200)
			return
		}
		http.Error(w, "no leader yet", 503)
	})
	if err := nodecheck.HTTPCheck(nodecheck.Direct, ports[0], "/ready", 0)(ctx, nodes[0]); err != nil {
		t.Errorf("http ready: %v", err)
	}
	err := nodecheck.HTTPCheck(nodecheck.Direct, ports[0], "/kv/x", 0)(ctx, nodes[0])
	if err == nil || !strings.Contains(err.Error(), "answered 503, want 200: no leader yet") {
		t.Errorf("http not ready: %v", err)
	}
	if err := nodecheck.TCPCheck(nodecheck.Direct, ports[0])(ctx, nodes[0]); err != nil {
		t.Errorf("tcp: %v", err)
	}
	ex := fakeExec{"n1": {"PONG", 0}, "n2": {"LOADING", 1}}
	cmds := map[string][]string{"n1": {"redis-cli", "ping"}, "n2": {"redis-cli", "ping"}}
	if err := nodecheck.ExecCheck(ex, cmds)(ctx, workloads.Node{Name: "n1"}); err != nil {
		t.Errorf("exec ready: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	err = nodecheck.WaitReady(wctx, []workloads.Node{{Name: "n1"}, {Name: "n2"}}, nodecheck.ExecCheck(ex, cmds))
	var nr *nodecheck.NotReadyError
	if !errors.As(err, &nr) || nr.Node != "n2" || !errors.Is(err, nodecheck.ErrNotReady) || !strings.Contains(err.Error(), "redis-cli ping exited 1: LOADING") {
		t.Errorf("never ready: %v", err)
	}
}

func TestLeaderChecks(t *testing.T) {
	ctx := context.Background()
	// Every node is asked on the same port; this server answers in turn,
	// as n1, n2 and n3 would: two cut-off nodes still name the old leader
	// n1 at term 4, n3 names itself at term 5.
	answers := []string{`{"raft": {"leader": "n1", "term": 4}}`, `{"raft": {"leader": "10.0.0.1", "term": 4}}`, `{"raft": {"leader": "n3", "term": 5}}`}
	asked := 0
	nodes, ports := serve(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, answers[asked%3])
		asked++
	})
	all := []workloads.Node{{Name: "n1", Addr: "127.0.0.1"}, {Name: "n2", Addr: "127.0.0.1"}, {Name: "n3", Addr: "127.0.0.1"}}
	_ = nodes
	if l, err := nodecheck.HTTPLeader(nodecheck.Direct, ports[0], "/status", "raft.leader", "raft.term")(ctx, all); err != nil || l != "n3" {
		t.Errorf("with terms: leader %q %v, want n3 (the highest term)", l, err)
	}
	// 10.0.0.1 names no node here (they are all on loopback): n1 and n3
	// tie at one answer each, and the first given wins.
	if l, err := nodecheck.HTTPLeader(nodecheck.Direct, ports[0], "/status", "raft.leader", "")(ctx, all); err != nil || l != "n1" {
		t.Errorf("without terms: leader %q %v, want n1", l, err)
	}
	// Without terms, the answer most nodes give.
	ex := fakeExec{"n1": {"10.0.0.1\n", 0}, "n2": {"10.0.0.2:6379", 0}, "n3": {"10.0.0.2", 0}}
	all = []workloads.Node{{Name: "n1", Addr: "10.0.0.1"}, {Name: "n2", Addr: "10.0.0.2"}, {Name: "n3", Addr: "10.0.0.3"}}
	l, err := nodecheck.ExecLeader(ex, map[string][]string{})(ctx, all)
	if err != nil || l != "n2" {
		t.Errorf("exec leader by most answers: %q %v", l, err)
	}
	none := fakeExec{"n1": {"nobody\n", 0}}
	_, err = nodecheck.ExecLeader(none, nil)(ctx, all[:1])
	if !errors.Is(err, nodecheck.ErrNoLeader) || !strings.Contains(err.Error(), `printed "nobody", which is no node's name or address`) {
		t.Errorf("no leader: %v", err)
	}
	for answer, want := range map[string]string{"n3": "n3", "10.0.0.3": "n3", "http://10.0.0.3:2379/": "n3", "kv@10.0.0.1": "n1", "10.9.9.9": ""} {
		if got, _ := nodecheck.NodeNamed(answer, all); got != want {
			t.Errorf("NodeNamed(%q) = %q, want %q", answer, got, want)
		}
	}
	// Waiting for an election: the last error after the wait.
	start := time.Now()
	_, err = nodecheck.WaitLeader(nodecheck.ExecLeader(none, nil), 300*time.Millisecond)(ctx, all[:1])
	if err == nil || time.Since(start) < 250*time.Millisecond {
		t.Errorf("wait for a leader: %v after %v", err, time.Since(start))
	}
}
