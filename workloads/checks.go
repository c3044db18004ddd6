package workloads

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The checks a system definition may name for readiness and for finding
// the leader, when its client does not answer them: an HTTP request, a TCP
// connect, or a command run inside the node (through an Execer).

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

// direct is an HTTP client that never goes through a proxy: nodes are
// reached on their addresses.
var direct = &http.Client{Transport: &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: time.Second}).DialContext, MaxIdleConnsPerHost: 2}}

// HTTPCheck GETs path on a node's port and wants status (200 when 0).
func HTTPCheck(port int, path string, status int) Check {
	if status == 0 {
		status = http.StatusOK
	}
	return func(ctx context.Context, n Node) error {
		b, code, err := httpGet(ctx, n.Addr, port, path)
		if err != nil {
			return err
		}
		if code != status {
			return fmt.Errorf("GET %s on port %d answered %d, want %d: %.200s", path, port, code, status, strings.TrimSpace(string(b)))
		}
		return nil
	}
}

func httpGet(ctx context.Context, addr string, port int, path string) ([]byte, int, error) {
	url := "http://" + net.JoinHostPort(addr, strconv.Itoa(port)) + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := direct.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return b, resp.StatusCode, err
}

// TCPCheck connects to a node's port.
func TCPCheck(port int) Check {
	return func(ctx context.Context, n Node) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(n.Addr, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return c.Close()
	}
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
func ClientCheck(r ReadyWaiter) Check {
	return func(ctx context.Context, n Node) error { return r.WaitReady(ctx, []Node{n}) }
}

// LeaderFunc names the current leader, by node name.
type LeaderFunc func(ctx context.Context, nodes []Node) (string, error)

// vote is one node's answer to "who leads?".
type vote struct {
	leader string // a node name
	term   float64
	termed bool
}

// elect picks the leader from the nodes' answers: the highest term when
// answers carry terms (a node cut off may still name an old leader), else
// the answer most nodes give (ties: the first given).
func elect(votes []vote) (string, bool) {
	best, ok := vote{}, false
	count := map[string]int{}
	for _, v := range votes {
		if v.leader == "" {
			continue
		}
		count[v.leader]++
		switch {
		case !ok:
			best, ok = v, true
		case v.termed && best.termed && v.term > best.term:
			best = v
		case !(v.termed && best.termed) && count[v.leader] > count[best.leader]:
			best = v
		}
	}
	return best.leader, ok
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
func HTTPLeader(port int, path, field, termField string) LeaderFunc {
	return func(ctx context.Context, nodes []Node) (string, error) {
		var votes []vote
		var lastErr error
		for _, n := range nodes {
			qctx, cancel := context.WithTimeout(ctx, time.Second)
			b, code, err := httpGet(qctx, n.Addr, port, path)
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
				lastErr = fmt.Errorf("%s: GET %s answered no JSON: %v", n.Name, path, err)
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
			v := vote{leader: name}
			if termField != "" {
				if t, ok := dig(doc, termField); ok {
					if f, ok := t.(float64); ok {
						v.term, v.termed = f, true
					}
				}
			}
			votes = append(votes, v)
		}
		if name, ok := elect(votes); ok {
			return name, nil
		}
		return "", noLeader(lastErr)
	}
}

func noLeader(lastErr error) error {
	if lastErr == nil {
		return ErrNoLeader
	}
	return fmt.Errorf("%w: %v", ErrNoLeader, lastErr)
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
		var votes []vote
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
			votes = append(votes, vote{leader: name})
		}
		if name, ok := elect(votes); ok {
			return name, nil
		}
		return "", noLeader(lastErr)
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
