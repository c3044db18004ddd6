package refkv

import (
	"bytes"
	"context"
	"encoding/json"
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

func (c *Client) do(ctx context.Context, method, path string, body any, out any) error {
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
	defer resp.Body.Close()
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
