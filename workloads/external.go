package workloads

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
	"strconv"
	"sync"
	"syscall"
	"time"
)

// External is the language-neutral adapter: faultline starts a program
// for each logical client and speaks JSON lines with it over stdin and
// stdout, one request per operation and one response per request:
//
//	-> {"id":1,"f":"write","key":"k1","value":17}
//	<- {"id":1,"type":"ok"}
//	-> {"id":2,"f":"read","key":"k1","value":null}
//	<- {"id":2,"type":"ok","value":17}
//	-> {"id":3,"f":"cas","key":"k1","value":[17,18]}
//	<- {"id":3,"type":"fail","error":"compare failed"}
//
// type is ok, fail (certainly did not happen) or info (unknown). The
// program learns its node from the environment: FAULTLINE_NODE,
// FAULTLINE_ENDPOINT, FAULTLINE_WORKLOAD, FAULTLINE_CLIENT and
// FAULTLINE_OP_TIMEOUT (seconds). Its standard error goes to
// LogDir/client-N.log.
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
	// LogDir receives each client's standard error.
	LogDir    string
	OpTimeout time.Duration
	// Env adds variables to the program's environment ("NAME=value").
	Env []string
}

var _ Adapter = External{}

// ErrClientProgram: the client program could not be started.
var ErrClientProgram = errors.New("client program failed")

// Open starts the program for one logical client.
func (e External) Open(ctx context.Context, node Node, kind string, id int) (Client, error) {
	if len(e.Command) == 0 {
		return nil, fmt.Errorf("%w: no command given", ErrClientProgram)
	}
	if _, err := exec.LookPath(e.Command[0]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrClientProgram, err)
	}
	c := &externalClient{ext: e, node: node, kind: kind, id: id}
	if e.LogDir != "" {
		if err := os.MkdirAll(e.LogDir, 0o755); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(filepath.Join(e.LogDir, fmt.Sprintf("client-%d.log", id)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		c.log = f
	}
	if err := c.start(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

type externalClient struct {
	ext  External
	node Node
	kind string
	id   int
	log  *os.File

	mu       sync.Mutex
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	lines    chan lineOrEOF
	reqID    int64
	answered bool // the running program has answered at least once
}

// StartupGrace is how much longer than the operation's timeout a freshly
// started program may take to answer its first request: interpreters and
// JITs take a while to start, more so when several start at once.
const StartupGrace = 10 * time.Second

type lineOrEOF struct {
	line []byte
	err  error
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

func (c *externalClient) start() error {
	cmd := exec.Command(c.ext.Command[0], c.ext.Command[1:]...)
	cmd.Dir = c.ext.Dir
	cmd.Env = append(os.Environ(),
		"FAULTLINE_NODE="+c.node.Name,
		"FAULTLINE_ENDPOINT="+c.node.Endpoint,
		"FAULTLINE_WORKLOAD="+c.kind,
		"FAULTLINE_CLIENT="+strconv.Itoa(c.id),
		"FAULTLINE_OP_TIMEOUT="+strconv.FormatFloat(c.ext.OpTimeout.Seconds(), 'f', -1, 64),
	)
	cmd.Env = append(cmd.Env, c.ext.Env...)
	// Its own process group, so a kill takes whatever it started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
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
		return fmt.Errorf("%w: start %v: %v", ErrClientProgram, c.ext.Command, err)
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
	return nil
}

// stop kills the program (and its process group) and reaps it.
func (c *externalClient) stop() {
	if c.cmd == nil {
		return
	}
	c.stdin.Close()
	syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	c.cmd.Wait()
	for range c.lines { // drain so the reader goroutine ends
	}
	c.cmd = nil
}

// Invoke sends one request and waits for its response, at most until ctx
// ends. Anything but a well-formed response restarts the program.
func (c *externalClient) Invoke(ctx context.Context, op Op) Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	unknown := func(format string, args ...any) Result {
		err := fmt.Errorf(format, args...)
		c.logf("%s %s: %v; restarting the client program", op.F, op.Key, err)
		c.stop()
		if op.F == "read" {
			return Result{Outcome: Fail, Err: err}
		}
		return Result{Outcome: Unknown, Err: err}
	}
	if c.cmd == nil {
		if err := c.start(); err != nil {
			return Result{Outcome: Fail, Err: err} // it never got the request
		}
	}
	c.reqID++
	id := c.reqID
	req, _ := json.Marshal(struct {
		ID int64 `json:"id"`
		Op
	}{id, op})
	if _, err := c.stdin.Write(append(req, '\n')); err != nil {
		return unknown("client program does not read its input: %v", err)
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
		return unknown("client program did not answer within the operation timeout")
	case <-grace:
		return unknown("client program did not answer its first request within the operation timeout and %v for starting", StartupGrace)
	case l, ok := <-c.lines:
		c.answered = true
		if !ok || l.err != nil {
			status := "exited"
			if c.cmd.ProcessState != nil {
				status = c.cmd.ProcessState.String()
			}
			return unknown("client program %s before answering (%v)", status, l.err)
		}
		var r response
		dec := json.NewDecoder(bytes.NewReader(l.line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return unknown("client program printed %q, not a JSON response: %v", truncate(l.line), err)
		}
		if r.ID != nil && *r.ID != id {
			return unknown("client program answered request %d, not %d", *r.ID, id)
		}
		var err error
		if r.Error != "" {
			err = errors.New(r.Error)
		}
		switch r.Type {
		case "ok":
			return Result{Outcome: OK, Value: r.Value, Err: err}
		case "fail":
			return Result{Outcome: Fail, Err: err}
		case "info":
			if op.F == "read" {
				return Result{Outcome: Fail, Err: err}
			}
			return Result{Outcome: Unknown, Err: err}
		}
		return unknown("client program answered type %q, not ok, fail or info", r.Type)
	}
}

func (c *externalClient) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stop()
	if c.log != nil {
		c.log.Close()
	}
	return nil
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}
