package clients

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faultline/faultline/workloads"
	"github.com/faultline/faultline/workloads/nodecheck"
)

// External is the language-neutral adapter: faultline starts a program
// for each logical client and speaks JSON lines with it over stdin and
// stdout, one request per operation and one response per request:
//
//	-> {"id":1,"f":"hello","key":"","value":{"protocol":2,"workload":"register","node":"n1","client":"3"}}
//	<- {"id":1,"type":"ok","value":{"protocol":2,"supports":["ready","leader"],"workloads":["register"]}}
//	-> {"id":2,"f":"write","key":"k1","value":17}
//	<- {"id":2,"type":"ok"}
//	-> {"id":3,"f":"read","key":"k1","value":null}
//	<- {"id":3,"type":"ok","value":17}
//	-> {"id":4,"f":"cas","key":"k1","value":[17,18]}
//	<- {"id":4,"type":"fail","error":"compare failed"}
//
// type is ok, fail (certainly did not happen) or info (unknown). The first
// request of a program is hello (protocol 2): a program that answers it
// ok says what it supports; one that answers anything else speaks
// protocol 1 (operations only) and keeps working. A program that supports
// them also answers ready (ok: this node serves) and leader (ok, value:
// the leader's name or address, or null) requests, which faultline sends
// to a control copy of the program per node (FAULTLINE_CLIENT=control).
//
// The program learns its node from the environment: FAULTLINE_NODE,
// FAULTLINE_ADDR, FAULTLINE_ENDPOINT, FAULTLINE_NODES (every node as
// name=address, comma-separated), FAULTLINE_WORKLOAD, FAULTLINE_READS,
// FAULTLINE_CLIENT and FAULTLINE_OP_TIMEOUT (seconds), plus the system's
// client.env. Its standard error goes to LogDir/client-N.log.
//
// A program that crashes, hangs past the operation's timeout or prints
// something that is not a response gets that operation marked info (a
// read: fail), a line in its log saying why, and is started again for the
// next operation. The harness never waits past the timeout.
type External struct {
	// Command is the program and its arguments.
	Command []string
	// Dir is the working directory (default: the harness's).
	Dir string
	// LogDir receives each client's standard error; without it, Stderr
	// does, each line headed by the client's name.
	LogDir    string
	Stderr    io.Writer
	OpTimeout time.Duration
	// Env adds variables to the program's environment ("NAME=value").
	Env []string
	// Reads is the read mode the scenario asks for (FAULTLINE_READS).
	Reads string
	// Nodes are every node of the cluster (FAULTLINE_NODES).
	Nodes []workloads.Node
	// Kind is the workload, for the control copies (FAULTLINE_WORKLOAD).
	Kind string

	noHello atomic.Bool // a program crashed on hello: do not send it again

	mu      sync.Mutex
	control map[string]*externalClient // per node: ready and leader requests
}

var (
	_ workloads.Adapter      = (*External)(nil)
	_ workloads.ReadyWaiter  = (*External)(nil)
	_ workloads.LeaderFinder = (*External)(nil)
)

// Protocol is the version of the JSON-lines protocol faultline speaks.
const Protocol = 2

// Hello is what a client program says of itself, answering hello.
type Hello struct {
	// Protocol is 1 for a program that does not answer hello.
	Protocol int `json:"protocol"`
	// Supports lists the optional requests it answers: ready, leader.
	Supports []string `json:"supports,omitempty"`
	// Workloads lists the workloads it runs (empty: it does not say).
	Workloads []string `json:"workloads,omitempty"`
}

// Can reports whether the program answers a request kind.
func (h Hello) Can(what string) bool { return slices.Contains(h.Supports, what) }

func (h Hello) String() string {
	if h.Protocol < 2 {
		return "protocol 1 (it did not answer hello: operations only)"
	}
	s := fmt.Sprintf("protocol %d, supports [%s]", h.Protocol, strings.Join(h.Supports, ", "))
	if len(h.Workloads) > 0 {
		s += ", workloads [" + strings.Join(h.Workloads, ", ") + "]"
	}
	return s
}

// Open starts the program for one logical client.
func (e *External) Open(ctx context.Context, node workloads.Node, kind string, id int) (workloads.Client, error) {
	c, err := e.open(ctx, node, kind, strconv.Itoa(id), fmt.Sprintf("client-%d.log", id))
	if err != nil {
		return nil, err
	}
	if h := c.hello; len(h.Workloads) > 0 && !slices.Contains(h.Workloads, kind) {
		return nil, errors.Join(fmt.Errorf("%w: %q runs the %s workloads, not %s (its answer to hello)", ErrClientProgram, strings.Join(e.Command, " "), strings.Join(h.Workloads, ", "), kind), c.Close())
	}
	return c, nil
}

func (e *External) open(ctx context.Context, node workloads.Node, kind, id, logName string) (*externalClient, error) {
	if len(e.Command) == 0 {
		return nil, fmt.Errorf("%w: no command given", ErrClientProgram)
	}
	if _, err := exec.LookPath(e.Command[0]); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrClientProgram, err)
	}
	c := &externalClient{ext: e, node: node, kind: kind, id: id}
	if e.LogDir != "" {
		if err := os.MkdirAll(e.LogDir, 0o755); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(filepath.Join(e.LogDir, logName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		c.log = f
	} else if e.Stderr != nil {
		c.log = &linePrefixer{w: e.Stderr, prefix: strings.TrimSuffix(logName, ".log") + ": "}
	}
	c.mu.Lock()
	err := c.start(ctx)
	c.mu.Unlock()
	if err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

// Hello starts the control copy of the program for a node (if it is not
// running yet) and answers what it said of itself.
func (e *External) Hello(ctx context.Context, node workloads.Node) (Hello, error) {
	c, err := e.controlFor(ctx, node)
	if err != nil {
		return Hello{}, err
	}
	return c.hello, nil
}

func (e *External) controlFor(ctx context.Context, node workloads.Node) (*externalClient, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.control[node.Name]; ok {
		return c, nil
	}
	c, err := e.open(ctx, node, e.Kind, "control", "control-"+node.Name+".log")
	if err != nil {
		return nil, err
	}
	if e.control == nil {
		e.control = map[string]*externalClient{}
	}
	e.control[node.Name] = c
	return c, nil
}

// ask sends a control request (ready, leader) to a node's control copy.
func (e *External) ask(ctx context.Context, node workloads.Node, f string) (workloads.Result, error) {
	c, err := e.controlFor(ctx, node)
	if err != nil {
		return workloads.Result{}, err
	}
	if !c.hello.Can(f) {
		return workloads.Result{}, fmt.Errorf("%w: %q does not answer %s requests; its answer to hello: %s", ErrClientProgram, strings.Join(e.Command, " "), f, c.hello)
	}
	return c.Invoke(ctx, workloads.Op{F: f}), nil
}

// WaitReady waits until each node's control program answers ready with ok.
func (e *External) WaitReady(ctx context.Context, nodes []workloads.Node) error {
	for _, n := range nodes {
		if _, err := e.controlFor(ctx, n); err != nil {
			return err
		}
	}
	var unsupported error
	err := nodecheck.WaitReady(ctx, nodes, func(ctx context.Context, n workloads.Node) error {
		res, err := e.ask(ctx, n, "ready")
		if err != nil {
			unsupported = err
			return err
		}
		if res.Outcome != workloads.OK {
			if res.Err == nil {
				res.Err = errors.New("the client program answered not ready")
			}
			return res.Err
		}
		return nil
	})
	if unsupported != nil {
		return unsupported
	}
	return err
}

// Leader asks each node's control program whom it follows; the answer
// most give wins.
func (e *External) Leader(ctx context.Context, nodes []workloads.Node) (string, error) {
	var votes []nodecheck.Vote
	var lastErr error
	for _, n := range nodes {
		res, err := e.ask(ctx, n, "leader")
		if errors.Is(err, ErrClientProgram) {
			return "", err
		}
		if err == nil && res.Outcome != workloads.OK {
			err = res.Err
			if err == nil {
				err = errors.New("the client program answered no leader")
			}
		}
		if err != nil {
			lastErr = fmt.Errorf("%s: %w", n.Name, err)
			continue
		}
		var answer any
		if err := json.Unmarshal(res.Value, &answer); err != nil || answer == nil || answer == "" {
			lastErr = fmt.Errorf("%s knows no leader", n.Name)
			continue
		}
		name, ok := nodecheck.NodeNamed(fmt.Sprint(answer), nodes)
		if !ok {
			lastErr = fmt.Errorf("%s: the client program named leader %q, which is no node's name or address", n.Name, fmt.Sprint(answer))
			continue
		}
		votes = append(votes, nodecheck.Vote{Leader: name})
	}
	if name, ok := nodecheck.Elect(votes); ok {
		return name, nil
	}
	return "", nodecheck.NoLeader(lastErr)
}

// Close stops the control programs.
func (e *External) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	for _, c := range e.control {
		errs = append(errs, c.Close())
	}
	e.control = nil
	return errors.Join(errs...)
}

type externalClient struct {
	ext  *External
	node workloads.Node
	kind string
	id   string
	log  io.WriteCloser

	mu       sync.Mutex
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	lines    chan lineOrEOF
	reqID    int64
	answered bool  // the running program has answered at least once
	hello    Hello // what it said of itself
}

// StartupGrace is how much longer than the operation's timeout a freshly
// started program may take to answer its first request: interpreters and
// JITs take a while to start, more so when several start at once.
const StartupGrace = 10 * time.Second

type lineOrEOF struct {
	line []byte
	err  error
}

// request is one line faultline sends. Key and value are always there, so
// a program that reads them unconditionally also survives hello.
type request struct {
	ID    int64           `json:"id"`
	F     string          `json:"f"`
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

// response is one line the program prints.
type response struct {
	ID    *int64          `json:"id"`
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
	Error string          `json:"error"`
}

func (c *externalClient) logf(format string, args ...any) {
	if c.log != nil {
		fmt.Fprintf(c.log, "faultline: "+format+"\n", args...)
	}
}

func (c *externalClient) environ() []string {
	var nodes []string
	for _, n := range c.ext.Nodes {
		nodes = append(nodes, n.Name+"="+n.Addr)
	}
	env := append(os.Environ(),
		"FAULTLINE_NODE="+c.node.Name,
		"FAULTLINE_ADDR="+c.node.Addr,
		"FAULTLINE_ENDPOINT="+c.node.Endpoint,
		"FAULTLINE_NODES="+strings.Join(nodes, ","),
		"FAULTLINE_WORKLOAD="+c.kind,
		"FAULTLINE_READS="+c.ext.Reads,
		"FAULTLINE_CLIENT="+c.id,
		"FAULTLINE_OP_TIMEOUT="+strconv.FormatFloat(c.ext.OpTimeout.Seconds(), 'f', -1, 64),
	)
	env = append(env, c.node.Env...)
	return append(env, c.ext.Env...)
}

// start starts the program and says hello. Called with c.mu held.
func (c *externalClient) start(ctx context.Context) error {
	cmd := exec.Command(c.ext.Command[0], c.ext.Command[1:]...)
	cmd.Dir = c.ext.Dir
	cmd.Env = c.environ()
	// Its own process group, so a kill takes whatever it started too.
	ownGroup(cmd)
	if c.log != nil {
		cmd.Stderr = c.log
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%w: start %q: %w", ErrClientProgram, strings.Join(c.ext.Command, " "), err)
	}
	lines := make(chan lineOrEOF, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
		for sc.Scan() {
			lines <- lineOrEOF{line: append([]byte(nil), sc.Bytes()...)}
		}
		err := sc.Err()
		if err == nil {
			err = io.EOF
		}
		lines <- lineOrEOF{err: err}
		close(lines)
	}()
	c.cmd, c.stdin, c.lines, c.answered = cmd, stdin, lines, false
	c.hello = Hello{Protocol: 1}
	if c.ext.noHello.Load() {
		return nil
	}
	hello, _ := json.Marshal(map[string]any{"protocol": Protocol, "workload": c.kind, "node": c.node.Name, "client": c.id})
	hctx, cancel := context.WithTimeout(ctx, c.ext.OpTimeout)
	defer cancel()
	res, broken := c.exchange(hctx, workloads.Op{F: "hello", Value: hello})
	switch {
	case broken != nil:
		// It crashed or hung on a request it does not know: an old
		// program. Start it again and never say hello to it again.
		c.logf("hello: %v; taking it for a protocol 1 program and starting it again", broken)
		c.stop()
		c.ext.noHello.Store(true)
		return c.start(ctx)
	case res.Outcome == workloads.OK:
		var h Hello
		if err := json.Unmarshal(res.Value, &h); err != nil || h.Protocol < 2 {
			c.logf("hello answered ok with %s, not {\"protocol\": 2, ...}; taking it for protocol 1", truncate(res.Value))
			return nil
		}
		c.hello = h
	}
	return nil
}

// stop kills the program (and its process group) and reaps it.
func (c *externalClient) stop() {
	if c.cmd == nil {
		return
	}
	// What ending it says is no news: the pipe goes, the group may have
	// gone already, and a killed program exits killed.
	_ = c.stdin.Close()
	_ = killGroup(c.cmd)
	_ = c.cmd.Wait()
	for range c.lines { // drain so the reader goroutine ends
	}
	c.cmd = nil
}

// Invoke sends one request and waits for its response, at most until ctx
// ends. Anything but a well-formed response restarts the program.
func (c *externalClient) Invoke(ctx context.Context, op workloads.Op) workloads.Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		if err := c.start(ctx); err != nil {
			return workloads.Result{Outcome: workloads.Fail, Err: err} // it never got the request
		}
	}
	res, broken := c.exchange(ctx, op)
	if broken != nil {
		c.logf("%s %s: %v; restarting the client program", op.F, op.Key, broken)
		c.stop()
		return op.Broken(broken)
	}
	return res
}

// exchange writes one request and reads its response. A non-nil error
// means the program misbehaved (and should be restarted); otherwise the
// result is what it answered.
func (c *externalClient) exchange(ctx context.Context, op workloads.Op) (workloads.Result, error) {
	c.reqID++
	id := c.reqID
	value := op.Value
	if len(value) == 0 {
		value = null
	}
	req, _ := json.Marshal(request{ID: id, F: op.F, Key: op.Key, Value: value})
	if _, err := c.stdin.Write(append(req, '\n')); err != nil {
		return workloads.Result{}, fmt.Errorf("client program does not read its input: %w", err)
	}
	done := ctx.Done()
	var grace <-chan time.Time
	if !c.answered {
		t := time.NewTimer(StartupGrace)
		defer t.Stop()
		grace = t.C
	}
wait:
	select {
	case <-done:
		if grace != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			done = nil // a fresh program gets its grace; Ctrl-C still ends the wait
			goto wait
		}
		return workloads.Result{}, errors.New("client program did not answer within the operation timeout")
	case <-grace:
		return workloads.Result{}, fmt.Errorf("client program did not answer its first request within the operation timeout and %v for starting", StartupGrace)
	case l, ok := <-c.lines:
		c.answered = true
		if !ok || l.err != nil {
			status := "exited"
			if c.cmd.ProcessState != nil {
				status = c.cmd.ProcessState.String()
			}
			return workloads.Result{}, fmt.Errorf("client program %s before answering (%w)", status, l.err)
		}
		var r response
		dec := json.NewDecoder(bytes.NewReader(l.line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return workloads.Result{}, fmt.Errorf("client program printed %q, not a JSON response: %w", truncate(l.line), err)
		}
		if r.ID != nil && *r.ID != id {
			return workloads.Result{}, fmt.Errorf("client program answered request %d, not %d", *r.ID, id)
		}
		var err error
		if r.Error != "" {
			err = errors.New(r.Error)
		}
		switch r.Type {
		case "ok":
			return workloads.Result{Outcome: workloads.OK, Value: r.Value, Err: err}, nil
		case "fail":
			return workloads.Result{Outcome: workloads.Fail, Err: err}, nil
		case "info":
			return op.Broken(err), nil
		}
		return workloads.Result{}, fmt.Errorf("client program answered type %q, not ok, fail or info", r.Type)
	}
}

func (c *externalClient) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stop()
	if c.log != nil {
		return c.log.Close()
	}
	return nil
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

// linePrefixer heads each whole line written through it with prefix and
// writes it to w in one call, so that the lines of many clients sharing w
// interleave whole.
type linePrefixer struct {
	mu      sync.Mutex
	w       io.Writer
	prefix  string
	partial []byte
}

func (p *linePrefixer) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			break
		}
		if _, err := p.w.Write(append([]byte(p.prefix), p.partial[:i+1]...)); err != nil {
			return len(b), err
		}
		p.partial = p.partial[i+1:]
	}
	return len(b), nil
}

// Close writes what is left of a last line.
func (p *linePrefixer) Close() error {
	if len(p.partial) > 0 {
		_, err := p.Write([]byte("\n"))
		return err
	}
	return nil
}
