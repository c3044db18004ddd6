package workloads

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
)

// The client relay: when the controller cannot reach the nodes' addresses
// (a remote engine, a controller in a network of its own), the run's
// clients run in a container on the run's network instead. That container
// runs `faultline clients`, which serves the run's adapter (a built-in
// one, or a client program it starts inside the container) and the
// system's HTTP and TCP checks over its attach stream, one JSON object per
// line each way, answers matched to requests by id (internal/linerpc):
//
//	-> {"id":1,"op":"hello","adapter":{"builtin":"etcd","reads":"linearizable"}}
//	<- {"id":1}
//	-> {"id":2,"op":"open","client":3,"node":{"Name":"n1","Addr":"10.213.0.11",...},"kind":"register"}
//	<- {"id":2}
//	-> {"id":3,"op":"invoke","client":3,"f":"write","key":"k1","value":17,"timeout_ns":1000000000}
//	<- {"id":3,"outcome":0}
//
// Relay is the controller's side: an Adapter like any other, and the
// checks' and leader questions' way into the network. The history is
// written by the controller as always: an operation's invocation is
// recorded before its request leaves and its completion after the answer
// arrives, so the times bracket the operation as the client ran it (they
// include the round trip to the container, about a millisecond here).

// RelaySpec is what the relay's adapter is: a built-in one by name, or a
// client program (with what External needs).
type RelaySpec struct {
	Builtin   string        `json:"builtin,omitempty"`
	Reads     string        `json:"reads,omitempty"`
	Command   []string      `json:"command,omitempty"`
	Env       []string      `json:"env,omitempty"`
	OpTimeout time.Duration `json:"op_timeout_ns,omitempty"`
	Kind      string        `json:"kind,omitempty"`
	Nodes     []Node        `json:"nodes,omitempty"`
}

// CheckSpec is a readiness check or leader question to ask from inside
// the network: over HTTP (Path on Port, wanting Status; the leader in
// Field, its term in Term), a TCP connect to Port, or the adapter's own
// answer (Client).
type CheckSpec struct {
	HTTP   bool   `json:"http,omitempty"`
	TCP    bool   `json:"tcp,omitempty"`
	Client bool   `json:"client,omitempty"`
	Port   int    `json:"port,omitempty"`
	Path   string `json:"path,omitempty"`
	Status int    `json:"status,omitempty"`
	Field  string `json:"field,omitempty"`
	Term   string `json:"term,omitempty"`
}

type relayRequest struct {
	Op      string     `json:"op"`
	Adapter *RelaySpec `json:"adapter,omitempty"`
	// Checks is the adapter that answers readiness and leader questions
	// (the system's own client), when not the workload's.
	Checks  *RelaySpec      `json:"checks,omitempty"`
	Client  int64           `json:"client,omitempty"`
	Node    *Node           `json:"node,omitempty"`
	Nodes   []Node          `json:"nodes,omitempty"`
	Kind    string          `json:"kind,omitempty"`
	F       string          `json:"f,omitempty"`
	Key     string          `json:"key,omitempty"`
	Value   json.RawMessage `json:"value,omitempty"`
	Check   *CheckSpec      `json:"check,omitempty"`
	Timeout time.Duration   `json:"timeout_ns,omitempty"`
}

type relayResponse struct {
	Error   string          `json:"error,omitempty"`
	Outcome Outcome         `json:"outcome"`
	Value   json.RawMessage `json:"value,omitempty"`
	Leader  string          `json:"leader,omitempty"`
	// Failed: an operation's error, not the request's (the operation
	// was run, and ended as Outcome says).
	Failed string `json:"failed,omitempty"`
}

// ServeRelay serves the relay on r and w until r ends (the controller
// gone): the adapter hello names, its clients, its checks. Requests after
// hello are served concurrently; clients are closed at the end.
func ServeRelay(ctx context.Context, r io.Reader, w io.Writer) error {
	var (
		mu              sync.Mutex
		adapter, checks Adapter // set by hello, before any request is served
		clients         = map[int64]Client{}
	)
	err := linerpc.Serve(r, w, func(line json.RawMessage) (any, func() any) {
		var req relayRequest
		if err := json.Unmarshal(line, &req); err != nil {
			return linerpc.Fail(fmt.Errorf("bad request: %v", err)), nil
		}
		if req.Op == "hello" {
			a, err := req.Adapter.adapter()
			adapter, checks = a, a
			if err == nil && req.Checks != nil {
				checks, err = req.Checks.adapter()
			}
			return linerpc.Fail(err), nil
		}
		if adapter == nil || checks == nil {
			return linerpc.Fail(errors.New("the first request must be hello, naming the adapter")), nil
		}
		a, c := adapter, checks
		return nil, func() any { return serveRelayOne(ctx, a, c, &mu, clients, req) }
	})
	for _, c := range clients {
		c.Close()
	}
	for _, a := range []Adapter{adapter, checks} {
		if e, ok := a.(*External); ok {
			e.Close()
		}
	}
	return err
}

// External is the client program s names, as it runs here.
func (s *RelaySpec) External() *External {
	return &External{Command: s.Command, Env: s.Env, OpTimeout: s.OpTimeout, Reads: s.Reads, Nodes: s.Nodes, Kind: s.Kind}
}

func (s *RelaySpec) adapter() (Adapter, error) {
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

func serveRelayOne(ctx context.Context, a, checks Adapter, mu *sync.Mutex, clients map[int64]Client, req relayRequest) relayResponse {
	var resp relayResponse
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Timeout)
		defer cancel()
	}
	var err error
	switch req.Op {
	case "open":
		if req.Node == nil {
			err = errors.New("open names no node")
			break
		}
		var c Client
		if c, err = a.Open(ctx, *req.Node, req.Kind, int(req.Client)); err == nil {
			mu.Lock()
			clients[req.Client] = c
			mu.Unlock()
		}
	case "invoke":
		mu.Lock()
		c := clients[req.Client]
		mu.Unlock()
		if c == nil {
			err = fmt.Errorf("no client %d is open", req.Client)
			break
		}
		res := c.Invoke(ctx, Op{F: req.F, Key: req.Key, Value: req.Value})
		resp.Outcome, resp.Value = res.Outcome, res.Value
		if res.Err != nil {
			resp.Failed = res.Err.Error()
		}
		return resp
	case "close":
		mu.Lock()
		c := clients[req.Client]
		delete(clients, req.Client)
		mu.Unlock()
		if c != nil {
			err = c.Close()
		}
	case "check":
		if req.Check == nil || req.Node == nil {
			err = errors.New("check needs a check and a node")
			break
		}
		err = req.Check.check(checks)(ctx, *req.Node)
	case "leader":
		if req.Check == nil {
			err = errors.New("leader needs a question")
			break
		}
		var f LeaderFunc
		if f, err = req.Check.leader(checks); err == nil {
			resp.Leader, err = f(ctx, req.Nodes)
		}
	default:
		err = fmt.Errorf("unknown request %q", req.Op)
	}
	if err != nil {
		resp.Error = err.Error()
	}
	return resp
}

// check is the check s describes, asked where it runs.
func (s *CheckSpec) check(a Adapter) Check {
	switch {
	case s.HTTP:
		return HTTPCheck(s.Port, s.Path, s.Status)
	case s.TCP:
		return TCPCheck(s.Port)
	}
	w, ok := a.(ReadyWaiter)
	if !ok {
		return func(context.Context, Node) error { return errors.New("the client has no readiness check") }
	}
	return ClientCheck(w)
}

// leader is the leader question s describes, asked where it runs.
func (s *CheckSpec) leader(a Adapter) (LeaderFunc, error) {
	if s.HTTP {
		return HTTPLeader(s.Port, s.Path, s.Field, s.Term), nil
	}
	f, ok := a.(LeaderFinder)
	if !ok {
		return nil, errors.New("the client cannot tell the leader")
	}
	return f.Leader, nil
}

// Relay is the controller's side of the client relay: the adapter whose
// clients run in a container on the run's network, answering on conn
// (the container's attach stream).
type Relay struct {
	rpc     *linerpc.Client
	clients atomic.Int64
}

var (
	_ Adapter      = (*Relay)(nil)
	_ ReadyWaiter  = (*Relay)(nil)
	_ LeaderFinder = (*Relay)(nil)
)

// ErrRelayGone: the client container stopped answering.
var ErrRelayGone = errors.New("client container gone")

// NewRelay greets the relay on conn with the adapter it is to serve, and
// the one that answers readiness and leader questions (nil: the same).
func NewRelay(ctx context.Context, conn io.ReadWriteCloser, spec RelaySpec, checks *RelaySpec) (*Relay, error) {
	r := &Relay{rpc: linerpc.NewClient(conn, func(cause error) error {
		err := fmt.Errorf("%w: the client container stopped answering (it died or was removed)", ErrRelayGone)
		if cause != nil {
			err = fmt.Errorf("%w: %v", err, cause)
		}
		return err
	})}
	if _, err := r.call(ctx, relayRequest{Op: "hello", Adapter: &spec, Checks: checks}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("client container: %w", err)
	}
	return r, nil
}

// call sends one request and waits for its answer, or for ctx.
func (r *Relay) call(ctx context.Context, req relayRequest) (relayResponse, error) {
	var resp relayResponse
	line, err := r.rpc.Call(ctx, req)
	if line != nil {
		json.Unmarshal(line, &resp)
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
func (r *Relay) Open(ctx context.Context, node Node, kind string, id int) (Client, error) {
	cid := r.clients.Add(1)
	if _, err := r.call(ctx, relayRequest{Op: "open", Client: cid, Node: &node, Kind: kind, Timeout: timeout(ctx)}); err != nil {
		return nil, err
	}
	return &relayClient{r: r, id: cid}, nil
}

// WaitReady waits until the adapter in the container says every node is
// ready.
func (r *Relay) WaitReady(ctx context.Context, nodes []Node) error {
	return WaitReady(ctx, nodes, r.Check(CheckSpec{Client: true}))
}

// Leader asks the adapter in the container who leads.
func (r *Relay) Leader(ctx context.Context, nodes []Node) (string, error) {
	return r.LeaderVia(CheckSpec{Client: true})(ctx, nodes)
}

// Check is a readiness check asked from inside the network.
func (r *Relay) Check(spec CheckSpec) Check {
	return func(ctx context.Context, n Node) error {
		_, err := r.call(ctx, relayRequest{Op: "check", Check: &spec, Node: &n, Timeout: timeout(ctx)})
		return err
	}
}

// LeaderVia is a leader question asked from inside the network.
func (r *Relay) LeaderVia(spec CheckSpec) LeaderFunc {
	return func(ctx context.Context, nodes []Node) (string, error) {
		resp, err := r.call(ctx, relayRequest{Op: "leader", Check: &spec, Nodes: nodes, Timeout: timeout(ctx)})
		if err != nil {
			return "", noLeader(err)
		}
		return resp.Leader, nil
	}
}

// Close ends the relay's input: the container closes its clients and
// exits.
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
// An answer that does not come back is an unknown outcome (a read: a
// failure), as for any client.
func (c *relayClient) Invoke(ctx context.Context, op Op) Result {
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
	resp, err := c.r.call(wait, relayRequest{Op: "invoke", Client: c.id, F: op.F, Key: op.Key, Value: op.Value, Timeout: timeout(ctx)})
	if err != nil {
		if op.F == "read" {
			return Result{Outcome: Fail, Err: err}
		}
		return Result{Outcome: Unknown, Err: err}
	}
	res := Result{Outcome: resp.Outcome, Value: resp.Value}
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
