package clients

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faultline/faultline/internal/linerpc"
	"github.com/faultline/faultline/workloads"
	"github.com/faultline/faultline/workloads/nodecheck"
)

// The client relay: when the controller cannot reach the nodes' addresses
// (a remote engine, a controller in a network of its own), the run's
// clients run in a container on the run's network instead. That container
// runs `faultline clients`, which serves the run's adapter (a built-in
// one, or a client program it starts inside the container) and the
// network questions of the readiness and leader checks (an HTTP GET, a
// TCP connect) over its attach stream, one JSON object per line each way,
// answers matched to requests by id (internal/linerpc):
//
//	-> {"id":1,"op":"hello","adapter":{"builtin":"etcd","reads":"linearizable"}}
//	<- {"id":1}
//	-> {"id":2,"op":"open","client":3,"node":{"Name":"n1","Addr":"10.213.0.11",...},"kind":"register"}
//	<- {"id":2}
//	-> {"id":3,"op":"invoke","client":3,"operation":{"f":"write","key":"k1","value":17},"timeout_ns":1000000000}
//	<- {"id":3,"outcome":0}
//	-> {"id":4,"op":"get","addr":"10.213.0.11","port":2379,"path":"/health"}
//	<- {"id":4,"status":200,"body":"eyJoZWFsdGgiOiJ0cnVlIn0="}
//
// Relay is the controller's side: an Adapter like any other, and a
// nodecheck.Asker, so that the checks are the same whether they ask from
// here or from in there. The history is written by the controller as
// always: an operation's invocation is recorded before its request leaves
// and its completion after the answer arrives, so the times bracket the
// operation as the client ran it (they include the round trip to the
// container, about a millisecond here).

// RelaySpec is what the relay's adapter is: a built-in one by name, or a
// client program (with what External needs).
type RelaySpec struct {
	Builtin   string           `json:"builtin,omitempty"`
	Reads     string           `json:"reads,omitempty"`
	Command   []string         `json:"command,omitempty"`
	Env       []string         `json:"env,omitempty"`
	OpTimeout time.Duration    `json:"op_timeout_ns,omitempty"`
	Kind      string           `json:"kind,omitempty"`
	Nodes     []workloads.Node `json:"nodes,omitempty"`
}

type relayRequest struct {
	Op      string     `json:"op"`
	Adapter *RelaySpec `json:"adapter,omitempty"`
	// Checks is the adapter that answers readiness and leader questions
	// (the system's own client), when not the workload's.
	Checks    *RelaySpec       `json:"checks,omitempty"`
	Client    int64            `json:"client,omitempty"`
	Node      *workloads.Node  `json:"node,omitempty"`
	Nodes     []workloads.Node `json:"nodes,omitempty"`
	Kind      string           `json:"kind,omitempty"`
	Operation *workloads.Op    `json:"operation,omitempty"`
	// Addr, Port and Path are a network question's.
	Addr    string        `json:"addr,omitempty"`
	Port    int           `json:"port,omitempty"`
	Path    string        `json:"path,omitempty"`
	Timeout time.Duration `json:"timeout_ns,omitempty"`
}

type relayResponse struct {
	Error   string            `json:"error,omitempty"`
	Outcome workloads.Outcome `json:"outcome"`
	Value   json.RawMessage   `json:"value,omitempty"`
	Leader  string            `json:"leader,omitempty"`
	// Failed: an operation's error, not the request's (the operation
	// was run, and ended as Outcome says).
	Failed string `json:"failed,omitempty"`
	// Status and Body are a GET's answer.
	Status int    `json:"status,omitempty"`
	Body   []byte `json:"body,omitempty"`
}

// relayServer is the container's side of the relay.
type relayServer struct {
	adapter, checks workloads.Adapter // set by hello, before any request is served
	mu              sync.Mutex
	clients         map[int64]workloads.Client
}

// ServeRelay serves the relay on r and w until r ends (the controller
// gone): the adapter hello names, its clients, its checks. Requests after
// hello are served concurrently; clients are closed at the end.
func ServeRelay(ctx context.Context, r io.Reader, w io.Writer) error {
	s := &relayServer{clients: map[int64]workloads.Client{}}
	err := linerpc.Serve(r, w, func(line json.RawMessage) (any, func() any) {
		var req relayRequest
		if err := json.Unmarshal(line, &req); err != nil {
			return linerpc.Fail(fmt.Errorf("bad request: %w", err)), nil
		}
		if req.Op == "hello" {
			a, err := req.Adapter.adapter()
			s.adapter, s.checks = a, a
			if err == nil && req.Checks != nil {
				s.checks, err = req.Checks.adapter()
			}
			return linerpc.Fail(err), nil
		}
		if s.adapter == nil || s.checks == nil {
			return linerpc.Fail(errors.New("the first request must be hello, naming the adapter")), nil
		}
		return nil, func() any { return s.serve(ctx, req) }
	})
	var errs []error
	for _, c := range s.clients {
		errs = append(errs, c.Close())
	}
	for _, a := range []workloads.Adapter{s.adapter, s.checks} {
		if e, ok := a.(*External); ok {
			errs = append(errs, e.Close())
		}
	}
	return errors.Join(append([]error{err}, errs...)...)
}

// External is the client program s names, as it runs here.
func (s *RelaySpec) External() *External {
	return &External{Command: s.Command, Env: s.Env, OpTimeout: s.OpTimeout, Reads: s.Reads, Nodes: s.Nodes, Kind: s.Kind}
}

func (s *RelaySpec) adapter() (workloads.Adapter, error) {
	switch {
	case s == nil:
		return nil, errors.New("hello names no adapter")
	case s.Builtin != "":
		return Builtin(s.Builtin, BuiltinOptions{Reads: s.Reads})
	case len(s.Command) > 0:
		e := s.External()
		e.Stderr = os.Stderr // the container's: the controller logs it
		return e, nil
	}
	return nil, errors.New("hello names neither a built-in adapter nor a client program")
}

// serve answers one request after hello.
func (s *relayServer) serve(ctx context.Context, req relayRequest) relayResponse {
	var resp relayResponse
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Timeout)
		defer cancel()
	}
	var err error
	switch req.Op {
	case "open", "invoke", "close":
		resp, err = s.client(ctx, req)
	case "ready":
		w, ok := s.checks.(workloads.ReadyWaiter)
		switch {
		case !ok:
			err = errors.New("the client has no readiness check")
		case req.Node == nil:
			err = errors.New("ready names no node")
		default:
			err = w.WaitReady(ctx, []workloads.Node{*req.Node})
		}
	case "leader":
		f, ok := s.checks.(workloads.LeaderFinder)
		if !ok {
			err = errors.New("the client cannot tell the leader")
			break
		}
		resp.Leader, err = f.Leader(ctx, req.Nodes)
	case "get":
		resp.Body, resp.Status, err = nodecheck.Direct.Get(ctx, req.Addr, req.Port, req.Path)
	case "dial":
		err = nodecheck.Direct.Dial(ctx, req.Addr, req.Port)
	default:
		err = fmt.Errorf("unknown request %q", req.Op)
	}
	if err != nil {
		resp.Error = err.Error()
	}
	return resp
}

// client opens, runs and closes the clients the controller asks for.
func (s *relayServer) client(ctx context.Context, req relayRequest) (relayResponse, error) {
	var resp relayResponse
	s.mu.Lock()
	c := s.clients[req.Client]
	if req.Op == "close" {
		delete(s.clients, req.Client)
	}
	s.mu.Unlock()
	switch req.Op {
	case "open":
		if req.Node == nil {
			return resp, errors.New("open names no node")
		}
		c, err := s.adapter.Open(ctx, *req.Node, req.Kind, int(req.Client))
		if err == nil {
			s.mu.Lock()
			s.clients[req.Client] = c
			s.mu.Unlock()
		}
		return resp, err
	case "close":
		if c == nil {
			return resp, nil
		}
		return resp, c.Close()
	}
	switch {
	case c == nil:
		return resp, fmt.Errorf("no client %d is open", req.Client)
	case req.Operation == nil:
		return resp, errors.New("invoke names no operation")
	}
	res := c.Invoke(ctx, *req.Operation)
	resp.Outcome, resp.Value = res.Outcome, res.Value
	if res.Err != nil {
		resp.Failed = res.Err.Error()
	}
	return resp, nil
}

// Relay is the controller's side of the client relay: the adapter whose
// clients run in a container on the run's network, answering on conn
// (the container's attach stream), and the way the checks ask the nodes
// from in there.
type Relay struct {
	rpc     *linerpc.Client
	clients atomic.Int64
}

var (
	_ workloads.Adapter      = (*Relay)(nil)
	_ workloads.ReadyWaiter  = (*Relay)(nil)
	_ workloads.LeaderFinder = (*Relay)(nil)
	_ nodecheck.Asker        = (*Relay)(nil)
)

// NewRelay greets the relay on conn with the adapter it is to serve, and
// the one that answers readiness and leader questions (nil: the same).
func NewRelay(ctx context.Context, conn io.ReadWriteCloser, spec RelaySpec, checks *RelaySpec) (*Relay, error) {
	r := &Relay{rpc: linerpc.NewClient(conn, func(cause error) error {
		err := fmt.Errorf("%w: the client container stopped answering (it died or was removed)", ErrRelayGone)
		if cause != nil {
			err = fmt.Errorf("%w: %w", err, cause)
		}
		return err
	})}
	if _, err := r.call(ctx, relayRequest{Op: "hello", Adapter: &spec, Checks: checks}); err != nil {
		return nil, errors.Join(fmt.Errorf("client container: %w", err), conn.Close())
	}
	return r, nil
}

// call sends one request and waits for its answer, or for ctx.
func (r *Relay) call(ctx context.Context, req relayRequest) (relayResponse, error) {
	var resp relayResponse
	line, err := r.rpc.Call(ctx, req)
	if line != nil {
		if uerr := json.Unmarshal(line, &resp); uerr != nil && err == nil {
			err = fmt.Errorf("client container answered %q: %w", line, uerr)
		}
	}
	return resp, err
}

// timeout is what is left of ctx, for the other side to bound its work by.
func timeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return 0
}

// Open opens a client in the container.
func (r *Relay) Open(ctx context.Context, node workloads.Node, kind string, id int) (workloads.Client, error) {
	cid := r.clients.Add(1)
	if _, err := r.call(ctx, relayRequest{Op: "open", Client: cid, Node: &node, Kind: kind, Timeout: timeout(ctx)}); err != nil {
		return nil, err
	}
	return &relayClient{r: r, id: cid}, nil
}

// WaitReady waits until the adapter in the container says every node is
// ready.
func (r *Relay) WaitReady(ctx context.Context, nodes []workloads.Node) error {
	return nodecheck.WaitReady(ctx, nodes, func(ctx context.Context, n workloads.Node) error {
		_, err := r.call(ctx, relayRequest{Op: "ready", Node: &n, Timeout: timeout(ctx)})
		return err
	})
}

// Leader asks the adapter in the container who leads.
func (r *Relay) Leader(ctx context.Context, nodes []workloads.Node) (string, error) {
	resp, err := r.call(ctx, relayRequest{Op: "leader", Nodes: nodes, Timeout: timeout(ctx)})
	if err != nil {
		return "", nodecheck.NoLeader(err)
	}
	return resp.Leader, nil
}

// Get GETs path on a node's port from inside the network.
func (r *Relay) Get(ctx context.Context, addr string, port int, path string) ([]byte, int, error) {
	resp, err := r.call(ctx, relayRequest{Op: "get", Addr: addr, Port: port, Path: path, Timeout: timeout(ctx)})
	return resp.Body, resp.Status, err
}

// Dial connects to a node's port from inside the network.
func (r *Relay) Dial(ctx context.Context, addr string, port int) error {
	_, err := r.call(ctx, relayRequest{Op: "dial", Addr: addr, Port: port, Timeout: timeout(ctx)})
	return err
}

// Close ends the relay's input: the container closes its clients and
// exits (awaited for up to 10 s).
func (r *Relay) Close() error {
	err := r.rpc.Close()
	select {
	case <-r.rpc.Closed():
	case <-time.After(10 * time.Second):
	}
	return err
}

// relayGrace is how long past an operation's deadline its answer is
// awaited: the round trip to the client container.
const relayGrace = 250 * time.Millisecond

type relayClient struct {
	r  *Relay
	id int64
}

// Invoke runs one operation in the container, bounded by ctx there too.
// An answer that does not come back is an operation whose client could
// not say how it ended (workloads.Op.Broken), as for any lost client.
func (c *relayClient) Invoke(ctx context.Context, op workloads.Op) workloads.Result {
	// The container's client gets what is left of the timeout; its answer
	// then needs a round trip: it is awaited a little past the deadline
	// (Ctrl-C still ends the wait at once).
	wait := ctx
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		wait, cancel = context.WithDeadline(context.WithoutCancel(ctx), d.Add(relayGrace))
		defer cancel()
		stop := context.AfterFunc(ctx, func() {
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				cancel()
			}
		})
		defer stop()
	}
	resp, err := c.r.call(wait, relayRequest{Op: "invoke", Client: c.id, Operation: &op, Timeout: timeout(ctx)})
	if err != nil {
		return op.Broken(err)
	}
	res := workloads.Result{Outcome: resp.Outcome, Value: resp.Value}
	if resp.Failed != "" {
		res.Err = errors.New(resp.Failed)
	}
	return res
}

func (c *relayClient) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.r.call(ctx, relayRequest{Op: "close", Client: c.id})
	if errors.Is(err, ErrRelayGone) {
		return nil
	}
	return err
}
