package workloads_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/faultline/faultline/workloads"
)

// HTTPKV is the worked example of docs/adapters.md: a register adapter for
// a store with an HTTP API (GET /kv/KEY, PUT /kv/KEY, PUT /kv/KEY?if=OLD).
type HTTPKV struct{}

func (HTTPKV) Open(_ context.Context, node workloads.Node, kind string, _ int) (workloads.Client, error) {
	if kind != workloads.Register.Name {
		return nil, fmt.Errorf("httpkv: only the register workload")
	}
	return &httpKVClient{base: node.Endpoint, http: &http.Client{}}, nil
}

type httpKVClient struct {
	base string
	http *http.Client
}

func (c *httpKVClient) Invoke(ctx context.Context, op workloads.Op) workloads.Result {
	switch op.F {
	case "read":
		req, _ := http.NewRequestWithContext(ctx, "GET", c.base+"/kv/"+op.Key, nil)
		resp, err := c.http.Do(req)
		if err != nil {
			return workloads.Result{Outcome: workloads.Fail, Err: err} // a read changes nothing
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return workloads.Result{Outcome: workloads.OK, Value: json.RawMessage("null")}
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return workloads.Result{Outcome: workloads.Fail, Err: err}
		}
		return workloads.Result{Outcome: workloads.OK, Value: body}
	case "write", "cas":
		url, value := c.base+"/kv/"+op.Key, []byte(op.Value)
		if op.F == "cas" {
			var pair [2]json.RawMessage
			json.Unmarshal(op.Value, &pair)
			url, value = url+"?if="+string(pair[0]), pair[1]
		}
		req, _ := http.NewRequestWithContext(ctx, "PUT", url, bytes.NewReader(value))
		resp, err := c.http.Do(req)
		if err != nil {
			return workloads.Result{Outcome: workloads.Unknown, Err: err} // it may have been applied
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			return workloads.Result{Outcome: workloads.OK}
		case http.StatusPreconditionFailed:
			return workloads.Result{Outcome: workloads.Fail, Err: errors.New("compare failed")}
		}
		return workloads.Result{Outcome: workloads.Unknown, Err: fmt.Errorf("status %s", resp.Status)}
	}
	return workloads.Result{Outcome: workloads.Fail, Err: fmt.Errorf("no operation %q", op.F)}
}

func (c *httpKVClient) Close() error { return nil }

// Example_adapter runs the worked example against a toy store on loopback.
func Example_adapter() {
	var mu sync.Mutex
	store := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		key := strings.TrimPrefix(r.URL.Path, "/kv/")
		switch r.Method {
		case "GET":
			v, ok := store[key]
			if !ok {
				http.NotFound(w, r)
				return
			}
			io.WriteString(w, v)
		case "PUT":
			old := r.URL.Query().Get("if")
			if old == "null" {
				old = "" // the key must be absent
			}
			if r.URL.Query().Has("if") && store[key] != old {
				w.WriteHeader(http.StatusPreconditionFailed)
				return
			}
			b, _ := io.ReadAll(r.Body)
			store[key] = string(b)
		}
	}))
	defer srv.Close()

	c, _ := HTTPKV{}.Open(context.Background(), workloads.Node{Name: "n1", Endpoint: srv.URL}, workloads.Register.Name, 0)
	defer c.Close()
	for _, op := range []workloads.Op{
		{F: "read", Key: "k1", Value: json.RawMessage("null")},
		{F: "write", Key: "k1", Value: json.RawMessage("3")},
		{F: "cas", Key: "k1", Value: json.RawMessage("[3,4]")},
		{F: "cas", Key: "k1", Value: json.RawMessage("[3,5]")},
		{F: "read", Key: "k1", Value: json.RawMessage("null")},
	} {
		r := c.Invoke(context.Background(), op)
		fmt.Println(strings.TrimSpace(fmt.Sprintf("%s %s -> outcome %d %s", op.F, op.Value, r.Outcome, r.Value)))
	}
	// Output:
	// read null -> outcome 0 null
	// write 3 -> outcome 0
	// cas [3,4] -> outcome 0
	// cas [3,5] -> outcome 1
	// read null -> outcome 0 4
}
