// Package linerpc carries requests and their answers as JSON lines over
// one stream, each line an object whose "id" matches an answer to its
// request, and whose "error" says why a request failed: the one home of
// how faultline talks to its helper containers (package nemesis) and to a
// run's client container (package workloads) over their attach streams.
//
// A Client sends requests concurrently and hands each caller its answer;
// Serve reads requests, answers some at once, in order (a greeting), and
// the others concurrently. What the objects hold besides id and error is
// the caller's.
package linerpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// maxLine bounds one line (a set's read can be long).
const maxLine = 16 * 1024 * 1024

// header is what every answer carries.
type header struct {
	ID    int64  `json:"id"`
	Error string `json:"error,omitempty"`
}

// withID writes v (which marshals to a JSON object without an id field
// of its own) as one line with id first.
func withID(id int64, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if len(b) < 2 || b[0] != '{' {
		return nil, fmt.Errorf("linerpc: %T is not a JSON object", v)
	}
	out := fmt.Appendf(nil, `{"id":%d`, id)
	if !bytes.Equal(b, []byte("{}")) {
		out = append(out, ',')
	}
	out = append(out, b[1:]...)
	return append(out, '\n'), nil
}

// Client is the asking side of a stream.
type Client struct {
	conn    io.ReadWriteCloser
	gone    func(cause error) error
	wmu     sync.Mutex
	next    atomic.Int64
	mu      sync.Mutex
	waiting map[int64]chan json.RawMessage
	err     error
	closed  chan struct{}
}

// NewClient reads answers from conn until it ends; gone says, from what
// ended it (nil for a clean end), why the other side is gone, for every
// call waiting then and after.
func NewClient(conn io.ReadWriteCloser, gone func(cause error) error) *Client {
	c := &Client{conn: conn, gone: gone, waiting: map[int64]chan json.RawMessage{}, closed: make(chan struct{})}
	go c.read()
	return c
}

func (c *Client) read() {
	sc := bufio.NewScanner(c.conn)
	sc.Buffer(make([]byte, 64*1024), maxLine)
	for sc.Scan() {
		var h header
		if json.Unmarshal(sc.Bytes(), &h) != nil {
			continue
		}
		c.mu.Lock()
		ch := c.waiting[h.ID]
		delete(c.waiting, h.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- append(json.RawMessage(nil), sc.Bytes()...)
		}
	}
	c.mu.Lock()
	c.err = c.gone(sc.Err())
	c.mu.Unlock()
	close(c.closed)
}

// Dead is why the other side is gone, nil while it answers.
func (c *Client) Dead() error {
	select {
	case <-c.closed:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.err
	default:
		return nil
	}
}

// Call sends req (a JSON object without an id of its own) and returns its
// answer's line. The error is the answer's error field (the line is
// returned with it), why the other side is gone, or ctx's.
func (c *Client) Call(ctx context.Context, req any) (json.RawMessage, error) {
	id := c.next.Add(1)
	line, err := withID(id, req)
	if err != nil {
		return nil, err
	}
	ch := make(chan json.RawMessage, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	c.waiting[id] = ch
	c.mu.Unlock()
	c.wmu.Lock()
	_, err = c.conn.Write(line)
	c.wmu.Unlock()
	if err != nil {
		c.forget(id)
		return nil, c.gone(err)
	}
	select {
	case ans := <-ch:
		var h header
		if err := json.Unmarshal(ans, &h); err != nil {
			return ans, fmt.Errorf("an answer that is no JSON object: %w", err) // read() passed only objects
		}
		if h.Error != "" {
			return ans, errors.New(h.Error)
		}
		return ans, nil
	case <-c.closed:
		return nil, c.Dead()
	case <-ctx.Done():
		c.forget(id)
		return nil, ctx.Err()
	}
}

func (c *Client) forget(id int64) {
	c.mu.Lock()
	delete(c.waiting, id)
	c.mu.Unlock()
}

// Closed is closed once the other side's answers have ended.
func (c *Client) Closed() <-chan struct{} { return c.closed }

// Close closes the stream (the other side's input ends).
func (c *Client) Close() error { return c.conn.Close() }

// Serve reads requests from r and writes answers to w until r ends, then
// waits for the answers under way. route gets each request's line: it
// answers at once (answer, nil), in order, or gives work to run
// concurrently (nil, work), whose result is the answer. An answer is any
// value that marshals to a JSON object without an id; each goes out with
// its request's id. A line that is not a JSON object is answered with an
// error.
func Serve(r io.Reader, w io.Writer, route func(req json.RawMessage) (answer any, work func() any)) error {
	var wmu sync.Mutex
	var writeErr atomic.Value // the first answer that could not be written
	reply := func(id int64, v any) {
		line, err := withID(id, v)
		if err != nil {
			line, _ = withID(id, header{Error: err.Error()})
		}
		wmu.Lock()
		defer wmu.Unlock()
		if _, err := w.Write(line); err != nil {
			writeErr.CompareAndSwap(nil, err) // the other side is gone: Serve says so when its input ends
		}
	}
	var wg sync.WaitGroup
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxLine)
	for sc.Scan() {
		var h header
		if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
			reply(0, struct {
				Error string `json:"error"`
			}{fmt.Sprintf("bad request: %v", err)})
			continue
		}
		answer, work := route(append(json.RawMessage(nil), sc.Bytes()...))
		if work == nil {
			reply(h.ID, answer)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			reply(h.ID, work())
		}()
	}
	wg.Wait()
	if err := sc.Err(); err != nil {
		return err
	}
	if err, ok := writeErr.Load().(error); ok {
		return fmt.Errorf("linerpc: an answer could not be written: %w", err)
	}
	return nil
}

// Error is an answer that says only why a request failed.
type Error struct {
	Error string `json:"error,omitempty"`
}

// Fail is the answer of a failed request (err nil: an empty answer).
func Fail(err error) Error {
	if err == nil {
		return Error{}
	}
	return Error{Error: err.Error()}
}
