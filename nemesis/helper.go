package nemesis

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// The helper protocol: a helper container in a node's network namespace
// runs `faultline helper`, which serves one Agent (a NamespaceAgent of its
// own namespace) to the controller over its standard input and output,
// one JSON object per line each way, answers matched to requests by id:
//
//	-> {"id":1,"op":"set","rules":{"drop_from":[{"peer":"10.213.0.12","scope":{}}]}}
//	<- {"id":1}
//	-> {"id":2,"op":"send","probe":{"Proto":"tcp","Port":2380},"peers":[{"name":"n2","addr":"10.213.0.12"}],"wait_ns":500000000}
//	<- {"id":2,"outcomes":{"n2":"silent"}}
//	<- {"id":3,"error":"listen on n1: address already in use"}
//
// When its input ends (the controller closed it, or died and the engine
// closed the attach stream), the helper empties what it installed,
// deletes faultline's table and exits: a helper cannot outlive its run
// with a fault in force.

// HelperProtocol is the protocol's version; a helper of another answers
// hello with an error, and the run stops naming both.
const HelperProtocol = 1

type helperRequest struct {
	ID     int64         `json:"id"`
	Op     string        `json:"op"`
	Rules  *NodeRules    `json:"rules,omitempty"`
	Probe  *Probe        `json:"probe,omitempty"`
	Peers  []Peer        `json:"peers,omitempty"`
	Wait   time.Duration `json:"wait_ns,omitempty"`
	Dst    netip.Addr    `json:"dst,omitzero"`
	Remove bool          `json:"remove,omitempty"`
	// Node and Protocol are hello's: the node the helper serves.
	Node     *Node `json:"node,omitempty"`
	Protocol int   `json:"protocol,omitempty"`
}

type helperResponse struct {
	ID       int64              `json:"id"`
	Error    string             `json:"error,omitempty"`
	Outcomes map[string]Outcome `json:"outcomes,omitempty"`
	From     []string           `json:"from,omitempty"`
	N        int64              `json:"n,omitempty"`
	// Gone: the node's namespace is gone (its container stopped); a set
	// did nothing.
	Gone bool `json:"gone,omitempty"`
}

// Serve answers a controller's requests on r and w with the agent that
// newAgent makes for the node named by the first request (hello), until r
// ends; then it empties the agent, deletes faultline's table and returns.
// Requests are served concurrently.
func Serve(ctx context.Context, r io.Reader, w io.Writer, newAgent func(Node) Agent) error {
	var (
		wmu   sync.Mutex
		agent Agent
		wg    sync.WaitGroup
	)
	enc := json.NewEncoder(w)
	reply := func(resp helperResponse) {
		wmu.Lock()
		defer wmu.Unlock()
		enc.Encode(resp)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		var req helperRequest
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			reply(helperResponse{Error: fmt.Sprintf("bad request: %v", err)})
			continue
		}
		if agent == nil {
			if req.Op != "hello" || req.Node == nil {
				reply(helperResponse{ID: req.ID, Error: "the first request must be hello, naming the node"})
				continue
			}
			if req.Protocol != HelperProtocol {
				reply(helperResponse{ID: req.ID, Error: fmt.Sprintf("this helper speaks protocol %d, the controller %d: rebuild the helper image (faultline images)", HelperProtocol, req.Protocol)})
				continue
			}
			agent = newAgent(*req.Node)
			reply(helperResponse{ID: req.ID})
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			reply(serveOne(ctx, agent, req))
		}()
	}
	wg.Wait()
	if agent == nil {
		return sc.Err()
	}
	// The controller is gone: nothing of faultline's stays in force.
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return errors.Join(sc.Err(), agent.Set(hctx, NodeRules{}), agent.Close(hctx, true))
}

func serveOne(ctx context.Context, a Agent, req helperRequest) helperResponse {
	resp := helperResponse{ID: req.ID}
	var err error
	switch req.Op {
	case "set":
		if req.Rules == nil {
			err = errors.New("set needs rules")
			break
		}
		// One round trip a change: the helper itself looks whether its
		// node is still there.
		if a.Gone() {
			resp.Gone = true
			break
		}
		err = a.Set(ctx, *req.Rules)
	case "listen", "send", "collect":
		if req.Probe == nil {
			err = fmt.Errorf("%s needs a probe", req.Op)
			break
		}
		switch req.Op {
		case "listen":
			err = a.Listen(ctx, *req.Probe)
		case "send":
			resp.Outcomes, err = a.Send(ctx, *req.Probe, req.Peers, req.Wait)
		default:
			resp.From, err = a.Collect(ctx, *req.Probe)
		}
	case "seen":
		resp.N, err = a.Seen(ctx, req.Dst)
	case "rules":
		var n int
		n, err = a.Rules(ctx)
		resp.N = int64(n)
	case "close":
		err = a.Close(ctx, req.Remove)
	default:
		err = fmt.Errorf("unknown request %q", req.Op)
	}
	if err != nil {
		resp.Error = err.Error()
	}
	return resp
}

// RemoteAgent is the agent of a node whose helper answers on conn (its
// attach stream): the controller's side of the helper protocol. Closing
// it ends the helper's input, so the helper heals and exits.
type RemoteAgent struct {
	node Node
	conn io.ReadWriteCloser

	wmu     sync.Mutex
	enc     *json.Encoder
	next    atomic.Int64
	mu      sync.Mutex
	waiting map[int64]chan helperResponse
	err     error // why the helper's output ended
	gone    atomic.Bool
	closed  chan struct{}
	// nodeGone: the helper said its node's namespace is gone.
	nodeGone atomic.Bool
}

var _ Agent = (*RemoteAgent)(nil)

// NewRemoteAgent greets the helper on conn for node, checking that it
// speaks this controller's protocol.
func NewRemoteAgent(ctx context.Context, node Node, conn io.ReadWriteCloser) (*RemoteAgent, error) {
	a := &RemoteAgent{node: node, conn: conn, enc: json.NewEncoder(conn), waiting: map[int64]chan helperResponse{}, closed: make(chan struct{})}
	go a.read()
	if _, err := a.call(ctx, helperRequest{Op: "hello", Node: &node, Protocol: HelperProtocol}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("helper of %s: %w", node.Name, err)
	}
	return a, nil
}

// read delivers the helper's answers to their callers, until its output
// ends; then every call waiting, and every later one, fails naming why.
func (a *RemoteAgent) read() {
	sc := bufio.NewScanner(a.conn)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		var resp helperResponse
		if err := json.Unmarshal(sc.Bytes(), &resp); err != nil {
			continue
		}
		a.mu.Lock()
		ch := a.waiting[resp.ID]
		delete(a.waiting, resp.ID)
		a.mu.Unlock()
		if ch != nil {
			ch <- resp
		}
	}
	a.mu.Lock()
	a.err = fmt.Errorf("%w: the helper of %s stopped answering (its container died or was removed)", ErrHelperGone, a.node.Name)
	if sc.Err() != nil {
		a.err = fmt.Errorf("%w: %v", a.err, sc.Err())
	}
	a.mu.Unlock()
	a.gone.Store(true)
	close(a.closed)
}

// helperTimeout bounds a helper's answer to any request: a change, or a
// probe that waits for packets, takes well under a second. (A variable
// for the tests.)
var helperTimeout = 30 * time.Second

func (a *RemoteAgent) call(parent context.Context, req helperRequest) (helperResponse, error) {
	ctx, cancel := context.WithTimeout(parent, helperTimeout+req.Wait)
	defer cancel()
	req.ID = a.next.Add(1)
	ch := make(chan helperResponse, 1)
	a.mu.Lock()
	if a.err != nil {
		a.mu.Unlock()
		return helperResponse{}, a.err
	}
	a.waiting[req.ID] = ch
	a.mu.Unlock()
	a.wmu.Lock()
	err := a.enc.Encode(req)
	a.wmu.Unlock()
	if err != nil {
		return helperResponse{}, fmt.Errorf("%w: the helper of %s stopped answering (its container died or was removed): %v", ErrHelperGone, a.node.Name, err)
	}
	select {
	case resp := <-ch:
		if resp.Error != "" {
			return resp, errors.New(resp.Error)
		}
		return resp, nil
	case <-a.closed:
		a.mu.Lock()
		defer a.mu.Unlock()
		return helperResponse{}, a.err
	case <-ctx.Done():
		a.mu.Lock()
		delete(a.waiting, req.ID)
		a.mu.Unlock()
		if parent.Err() == nil {
			return helperResponse{}, fmt.Errorf("%w: the helper of %s did not answer %s within %v", ErrHelperGone, a.node.Name, req.Op, helperTimeout+req.Wait)
		}
		return helperResponse{}, fmt.Errorf("helper of %s: %s: %w", a.node.Name, req.Op, ctx.Err())
	}
}

// Set sends the node's rules; the helper answers gone, and nothing is
// set, when the node's namespace is gone.
func (a *RemoteAgent) Set(ctx context.Context, r NodeRules) error {
	resp, err := a.call(ctx, helperRequest{Op: "set", Rules: &r})
	if err == nil && resp.Gone {
		a.nodeGone.Store(true)
		return fmt.Errorf("%w: %s's network namespace is gone, as its helper sees it: its container stopped", ErrNodeGone, a.node.Name)
	}
	return err
}

func (a *RemoteAgent) Listen(ctx context.Context, p Probe) error {
	_, err := a.call(ctx, helperRequest{Op: "listen", Probe: &p})
	return err
}

func (a *RemoteAgent) Send(ctx context.Context, p Probe, peers []Peer, wait time.Duration) (map[string]Outcome, error) {
	resp, err := a.call(ctx, helperRequest{Op: "send", Probe: &p, Peers: peers, Wait: wait})
	return resp.Outcomes, err
}

func (a *RemoteAgent) Collect(ctx context.Context, p Probe) ([]string, error) {
	resp, err := a.call(ctx, helperRequest{Op: "collect", Probe: &p})
	return resp.From, err
}

func (a *RemoteAgent) Seen(ctx context.Context, dst netip.Addr) (int64, error) {
	resp, err := a.call(ctx, helperRequest{Op: "seen", Dst: dst})
	return resp.N, err
}

func (a *RemoteAgent) Rules(ctx context.Context) (int, error) {
	resp, err := a.call(ctx, helperRequest{Op: "rules"})
	return int(resp.N), err
}

// Dead says why the helper stopped answering (its container died or was
// removed), nil while it answers.
func (a *RemoteAgent) Dead() error {
	if !a.gone.Load() {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// Gone reports whether the helper said, at the last change, that its
// node's namespace is gone (no interface holds the node's address: its
// container stopped). It asks nothing: a change finds out.
func (a *RemoteAgent) Gone() bool { return a.nodeGone.Load() }

// Close asks the helper to empty its node (and with remove, delete
// faultline's table), then ends its input: the helper exits.
func (a *RemoteAgent) Close(ctx context.Context, remove bool) error {
	var err error
	if !a.gone.Load() {
		_, err = a.call(ctx, helperRequest{Op: "close", Remove: remove})
	}
	cerr := a.conn.Close()
	select {
	case <-a.closed:
	case <-ctx.Done():
	}
	if errors.Is(err, ErrHelperGone) {
		err = nil // nothing left to close
	}
	return errors.Join(err, cerr)
}
