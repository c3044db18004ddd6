package nemesis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/faultline/faultline/internal/linerpc"
)

// The helper protocol: a helper container in a node's network namespace
// runs `faultline helper`, which serves one Agent (a NamespaceAgent of its
// own namespace) to the controller over its standard input and output,
// one JSON object per line each way, answers matched to requests by id
// (internal/linerpc):
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
// Requests after hello are served concurrently.
func Serve(ctx context.Context, r io.Reader, w io.Writer, newAgent func(Node) Agent) error {
	var agent Agent // set by hello, before any request is served
	err := linerpc.Serve(r, w, func(line json.RawMessage) (any, func() any) {
		var req helperRequest
		if err := json.Unmarshal(line, &req); err != nil {
			return linerpc.Fail(fmt.Errorf("bad request: %w", err)), nil
		}
		if agent == nil {
			switch {
			case req.Op != "hello" || req.Node == nil:
				return linerpc.Fail(errors.New("the first request must be hello, naming the node")), nil
			case req.Protocol != HelperProtocol:
				return linerpc.Fail(fmt.Errorf("this helper speaks protocol %d, the controller %d: rebuild the helper image (faultline images)", HelperProtocol, req.Protocol)), nil
			}
			agent = newAgent(*req.Node)
			return linerpc.Fail(nil), nil
		}
		a := agent
		return nil, func() any { return serveOne(ctx, a, req) }
	})
	if agent == nil {
		return err
	}
	// The controller is gone: nothing of faultline's stays in force.
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return errors.Join(err, agent.Set(hctx, NodeRules{}), agent.Close(hctx, true))
}

func serveOne(ctx context.Context, a Agent, req helperRequest) helperResponse {
	var resp helperResponse
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
	rpc  *linerpc.Client
	// nodeGone: the helper said its node's namespace is gone.
	nodeGone atomic.Bool
}

var _ Agent = (*RemoteAgent)(nil)

// NewRemoteAgent greets the helper on conn for node, checking that it
// speaks this controller's protocol.
func NewRemoteAgent(ctx context.Context, node Node, conn io.ReadWriteCloser) (*RemoteAgent, error) {
	a := &RemoteAgent{node: node, rpc: linerpc.NewClient(conn, func(cause error) error {
		err := fmt.Errorf("%w: the helper of %s stopped answering (its container died or was removed)", ErrHelperGone, node.Name)
		if cause != nil {
			err = fmt.Errorf("%w: %w", err, cause)
		}
		return err
	})}
	if _, err := a.call(ctx, helperRequest{Op: "hello", Node: &node, Protocol: HelperProtocol}); err != nil {
		return nil, errors.Join(fmt.Errorf("helper of %s: %w", node.Name, err), conn.Close())
	}
	return a, nil
}

// helperTimeout bounds a helper's answer to any request: a change, or a
// probe that waits for packets, takes well under a second. (A variable
// for the tests.)
var helperTimeout = 30 * time.Second

func (a *RemoteAgent) call(parent context.Context, req helperRequest) (helperResponse, error) {
	ctx, cancel := context.WithTimeout(parent, helperTimeout+req.Wait)
	defer cancel()
	var resp helperResponse
	line, err := a.rpc.Call(ctx, req)
	if line != nil {
		if uerr := json.Unmarshal(line, &resp); uerr != nil && err == nil {
			err = fmt.Errorf("the helper of %s answered %q: %w", a.node.Name, line, uerr)
		}
	}
	switch {
	case err == nil || ctx.Err() == nil:
		return resp, err
	case parent.Err() == nil:
		return resp, fmt.Errorf("%w: the helper of %s did not answer %s within %s", ErrHelperGone, a.node.Name, req.Op, helperTimeout+req.Wait)
	}
	return resp, fmt.Errorf("helper of %s: %s: %w", a.node.Name, req.Op, err)
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
func (a *RemoteAgent) Dead() error { return a.rpc.Dead() }

// Gone reports whether the helper said, at the last change, that its
// node's namespace is gone (no interface holds the node's address: its
// container stopped). It asks nothing: a change finds out.
func (a *RemoteAgent) Gone() bool { return a.nodeGone.Load() }

// Close asks the helper to empty its node (and with remove, delete
// faultline's table), then ends its input: the helper exits.
func (a *RemoteAgent) Close(ctx context.Context, remove bool) error {
	var err error
	if a.Dead() == nil {
		_, err = a.call(ctx, helperRequest{Op: "close", Remove: remove})
	}
	cerr := a.rpc.Close()
	select {
	case <-a.rpc.Closed():
	case <-ctx.Done():
	}
	if errors.Is(err, ErrHelperGone) {
		err = nil // nothing left to close
	}
	return errors.Join(err, cerr)
}
