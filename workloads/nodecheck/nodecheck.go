// Package nodecheck asks nodes whether they are ready and who leads, the
// ways a system's definition names: an HTTP request or a TCP connect to a
// node's port, a command run inside the node, or the client's own answer.
//
// Network questions go one way, an Asker: Direct asks from this host; the
// client relay (package workloads/clients) asks from a container on the
// run's network when this host cannot reach the nodes. The checks and the
// leader questions are the same either way. Commands run inside a node
// through an Execer (package docker's Cluster).
package nodecheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/workloads"
)

// Errors a caller may want to tell apart.
var (
	// ErrNotReady: a node did not pass its readiness check within the
	// ready timeout (a *NotReadyError says which and why).
	ErrNotReady = errors.New("cluster not ready")
	// ErrNoLeader: no node named a leader within the wait.
	ErrNoLeader = errors.New("no leader found")
)

// Node is a node as the checks reach it.
type Node = workloads.Node

// Asker asks a node's port a question over the network, from wherever
// the run's clients are.
type Asker interface {
	// Get GETs path on a node's port: the body (at most 1 MiB) and the
	// status code.
	Get(ctx context.Context, addr string, port int, path string) ([]byte, int, error)
	// Dial connects to a node's port and hangs up again.
	Dial(ctx context.Context, addr string, port int) error
}

// Direct asks from this host, on the nodes' addresses.
var Direct Asker = direct{}

type direct struct{}

// Check tells whether one node is ready: nil when it is.
type Check func(ctx context.Context, n Node) error

// Execer runs a command inside a node, like `docker exec`: what it printed
// and its exit status. package docker's Cluster is one.
type Execer interface {
	Exec(ctx context.Context, node string, cmd []string) (out []byte, exit int, err error)
}

// WaitReady waits until every node passes check (each try bounded to a
// second or two, retried every 200 ms), or ctx ends. The error names the
// first node that never passed and what its last try said.
func WaitReady(ctx context.Context, nodes []Node, check Check) error {
	for _, n := range nodes {
		for {
			octx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := check(octx, n)
			cancel()
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return &NotReadyError{Node: n.Name, Err: err}
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

// NotReadyError is a node that never passed its readiness check.
type NotReadyError struct {
	Node string
	Err  error // its last try
}

func (e *NotReadyError) Error() string {
	return fmt.Sprintf("%v: %s never passed its readiness check; its last try: %v", ErrNotReady, e.Node, e.Err)
}

func (e *NotReadyError) Unwrap() error { return ErrNotReady }

// directHTTP is an HTTP client that never goes through a proxy: nodes are
// reached on their addresses.
var directHTTP = &http.Client{Transport: &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: time.Second}).DialContext, MaxIdleConnsPerHost: 2}}

// HTTPCheck GETs path on a node's port and wants status (200 when 0).
func HTTPCheck(a Asker, port int, path string, status int) Check {
	if status == 0 {
		status = http.StatusOK
	}
	return func(ctx context.Context, n Node) error {
		b, code, err := a.Get(ctx, n.Addr, port, path)
		if err != nil {
			return err
		}
		if code != status {
			return fmt.Errorf("GET %s on port %d answered %d, want %d: %.200s", path, port, code, status, strings.TrimSpace(string(b)))
		}
		return nil
	}
}

func (direct) Get(ctx context.Context, addr string, port int, path string) ([]byte, int, error) {
	url := "http://" + net.JoinHostPort(addr, strconv.Itoa(port)) + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := directHTTP.Do(req)
	if err != nil {
		return nil, 0, err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return b, resp.StatusCode, errors.Join(err, resp.Body.Close())
}

func (direct) Dial(ctx context.Context, addr string, port int) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return c.Close()
}

// TCPCheck connects to a node's port.
func TCPCheck(a Asker, port int) Check {
	return func(ctx context.Context, n Node) error { return a.Dial(ctx, n.Addr, port) }
}

// ExecCheck runs each node's command inside it and wants exit status 0.
func ExecCheck(ex Execer, cmds map[string][]string) Check {
	return func(ctx context.Context, n Node) error {
		out, code, err := ex.Exec(ctx, n.Name, cmds[n.Name])
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("%s exited %d: %.200s", strings.Join(cmds[n.Name], " "), code, strings.TrimSpace(string(out)))
		}
		return nil
	}
}

// ClientCheck asks the client's own readiness question.
func ClientCheck(r workloads.ReadyWaiter) Check {
	return func(ctx context.Context, n Node) error { return r.WaitReady(ctx, []Node{n}) }
}

// LeaderFunc names the current leader, by node name.
type LeaderFunc func(ctx context.Context, nodes []Node) (string, error)

// Vote is one node's answer to "who leads?".
type Vote struct {
	Leader string // a node name
	Term   float64
	Termed bool // Term is the term it was elected in
}

// Elect picks the leader from the nodes' answers: the highest term when
// answers carry terms (a node cut off may still name an old leader), else
// the answer most nodes give (ties: the first given).
func Elect(votes []Vote) (string, bool) {
	best, ok := Vote{}, false
	count := map[string]int{}
	for _, v := range votes {
		if v.Leader == "" {
			continue
		}
		count[v.Leader]++
		switch {
		case !ok:
			best, ok = v, true
		case v.Termed && best.Termed && v.Term > best.Term:
			best = v
		case !(v.Termed && best.Termed) && count[v.Leader] > count[best.Leader]:
			best = v
		}
	}
	return best.Leader, ok
}

// NodeNamed maps how a system names its leader (a node name, an address,
// address:port, a URL, a hostname with the node's name) to a node.
func NodeNamed(answer string, nodes []Node) (string, bool) {
	a := strings.TrimSpace(answer)
	a = strings.TrimPrefix(strings.TrimPrefix(a, "http://"), "https://")
	a = strings.TrimSuffix(a, "/")
	if host, _, err := net.SplitHostPort(a); err == nil {
		a = host
	}
	for _, n := range nodes {
		if a == n.Name || a == n.Addr {
			return n.Name, true
		}
	}
	// Erlang's kv@10.213.0.11, or a hostname beginning with the node's name.
	if _, host, ok := strings.Cut(a, "@"); ok {
		return NodeNamed(host, nodes)
	}
	return "", false
}

// HTTPLeader asks every node GET path on port and reads the leader's
// name or address from a JSON field (dotted: "status.leader"), and with
// termField set the term it was elected in.
func HTTPLeader(a Asker, port int, path, field, termField string) LeaderFunc {
	return func(ctx context.Context, nodes []Node) (string, error) {
		var votes []Vote
		var lastErr error
		for _, n := range nodes {
			qctx, cancel := context.WithTimeout(ctx, time.Second)
			b, code, err := a.Get(qctx, n.Addr, port, path)
			cancel()
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("GET %s answered %d", path, code)
			}
			if err != nil {
				lastErr = fmt.Errorf("%s: %w", n.Name, err)
				continue
			}
			var doc any
			if err := json.Unmarshal(b, &doc); err != nil {
				lastErr = fmt.Errorf("%s: GET %s answered no JSON: %w", n.Name, path, err)
				continue
			}
			raw, ok := dig(doc, field)
			if !ok || raw == nil || raw == "" {
				lastErr = fmt.Errorf("%s names no leader (field %s is empty or absent)", n.Name, field)
				continue
			}
			name, ok := NodeNamed(fmt.Sprint(raw), nodes)
			if !ok {
				lastErr = fmt.Errorf("%s names leader %q, which is no node's name or address", n.Name, fmt.Sprint(raw))
				continue
			}
			v := Vote{Leader: name}
			if termField != "" {
				if t, ok := dig(doc, termField); ok {
					if f, ok := t.(float64); ok {
						v.Term, v.Termed = f, true
					}
				}
			}
			votes = append(votes, v)
		}
		if name, ok := Elect(votes); ok {
			return name, nil
		}
		return "", NoLeader(lastErr)
	}
}

// NoLeader is ErrNoLeader with the last answer's error.
func NoLeader(lastErr error) error {
	if lastErr == nil {
		return ErrNoLeader
	}
	return fmt.Errorf("%w: %w", ErrNoLeader, lastErr)
}

// dig follows a dotted path through decoded JSON objects.
func dig(doc any, path string) (any, bool) {
	cur := doc
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// ExecLeader runs each node's command inside it; the first line it prints
// names the leader (name or address), most nodes' answer winning.
func ExecLeader(ex Execer, cmds map[string][]string) LeaderFunc {
	return func(ctx context.Context, nodes []Node) (string, error) {
		var votes []Vote
		var lastErr error
		for _, n := range nodes {
			qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			out, code, err := ex.Exec(qctx, n.Name, cmds[n.Name])
			cancel()
			if err == nil && code != 0 {
				err = fmt.Errorf("%s exited %d: %.200s", strings.Join(cmds[n.Name], " "), code, strings.TrimSpace(string(out)))
			}
			if err != nil {
				lastErr = fmt.Errorf("%s: %w", n.Name, err)
				continue
			}
			line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
			name, ok := NodeNamed(line, nodes)
			if !ok {
				lastErr = fmt.Errorf("%s: the leader command printed %q, which is no node's name or address", n.Name, line)
				continue
			}
			votes = append(votes, Vote{Leader: name})
		}
		if name, ok := Elect(votes); ok {
			return name, nil
		}
		return "", NoLeader(lastErr)
	}
}

// WaitLeader asks f until it names a leader, for up to wait (an election
// may be in progress), and answers the last error otherwise.
func WaitLeader(f LeaderFunc, wait time.Duration) LeaderFunc {
	return func(ctx context.Context, nodes []Node) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		for {
			name, err := f(ctx, nodes)
			if err == nil {
				return name, nil
			}
			select {
			case <-ctx.Done():
				return "", err
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}
