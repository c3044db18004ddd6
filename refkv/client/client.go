// Package client is refkv's client API: the wire types of its HTTP
// interface and a Go client for them. It holds nothing of the server, so
// faultline's built-in refkv adapter links only this.
//
//	GET  /kv/{key}          -> 200 {"value": 3} or {"value": null}
//	POST /kv/{key}  {"op": "write", "value": 3}
//	                {"op": "cas", "expect": 2, "value": 3}  (no expect: the key must be absent)
//	                        -> 200 {"ok": true} (a cas that did not match: false)
//	GET  /status            -> Status
//
// Any node takes any request: a follower forwards it to the leader it
// knows. Errors are 503 {"error": "...", "definite": true|false}; definite
// means the request certainly had no effect.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Client talks to one node's client API.
type Client struct {
	Base string // http://host:port
	HTTP *http.Client
}

// Error is a refused or failed request. Definite means it certainly had no
// effect; otherwise (and for any transport error) the outcome is unknown.
type Error struct {
	Msg      string
	Definite bool
}

func (e *Error) Error() string { return e.Msg }

func (c *Client) do(ctx context.Context, method, path string, body any, out any) (err error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return &Error{Msg: err.Error(), Definite: true}
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, resp.Body.Close()) }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var r Response
		if json.Unmarshal(b, &r) == nil && r.Error != "" {
			return &Error{Msg: r.Error, Definite: r.Definite}
		}
		return &Error{Msg: fmt.Sprintf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b)), Definite: resp.StatusCode == http.StatusBadRequest}
	}
	return json.Unmarshal(b, out)
}

// Read returns the key's value, nil when it was never written.
func (c *Client) Read(ctx context.Context, key string) (*int64, error) {
	var r Response
	if err := c.do(ctx, http.MethodGet, "/kv/"+url.PathEscape(key), nil, &r); err != nil {
		return nil, err
	}
	return r.Value, nil
}

// Write sets the key.
func (c *Client) Write(ctx context.Context, key string, v int64) error {
	var r Response
	return c.do(ctx, http.MethodPost, "/kv/"+url.PathEscape(key), Request{Op: "write", Value: v}, &r)
}

// CAS sets the key to v if it holds expect (nil: if it is absent), and
// says whether it did.
func (c *Client) CAS(ctx context.Context, key string, expect *int64, v int64) (bool, error) {
	var r Response
	if err := c.do(ctx, http.MethodPost, "/kv/"+url.PathEscape(key), Request{Op: "cas", Expect: expect, Value: v}, &r); err != nil {
		return false, err
	}
	return r.OK, nil
}

// Status is the node's view of the cluster.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.do(ctx, http.MethodGet, "/status", nil, &s)
	return s, err
}

// Request is the body of a write.
type Request struct {
	Op     string `json:"op"`
	Value  int64  `json:"value"`
	Expect *int64 `json:"expect,omitempty"`
}

// Response is every answer of the kv API.
type Response struct {
	Value    *int64 `json:"value,omitempty"`
	OK       bool   `json:"ok,omitempty"`
	Error    string `json:"error,omitempty"`
	Definite bool   `json:"definite,omitempty"`
}

// Status is what GET /status answers.
type Status struct {
	ID       string            `json:"id"`
	Bug      string            `json:"bug"`
	State    string            `json:"state"`
	Term     uint64            `json:"term"`
	Leader   string            `json:"leader"`
	Degraded bool              `json:"degraded,omitempty"`
	Lease    bool              `json:"lease"`
	Commit   uint64            `json:"commit"`
	Applied  uint64            `json:"applied"`
	Last     uint64            `json:"last"`
	Alive    map[string]string `json:"alive"` // peers heard on the heartbeat port, with how long ago
}
