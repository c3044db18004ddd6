package clients

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	refkv "github.com/faultline/faultline/refkv/client"
	"github.com/faultline/faultline/workloads"
)

// RefKV is the built-in adapter for refkv, the reference store with
// switchable bugs, over its HTTP API (package refkv/client; the server is
// not linked). Like the etcd adapter, each client talks only to its own
// node; the node forwards to the leader. Readiness and the leader come
// from refkv's system definition (HTTP checks), not from here.
type RefKV struct{}

var _ workloads.Adapter = RefKV{}

type refkvClient struct{ c *refkv.Client }

func newRefKVClient(endpoint string) *refkv.Client {
	return &refkv.Client{Base: endpoint, HTTP: &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
		MaxIdleConnsPerHost: 4,
	}}}
}

// Open connects a client; refkv runs the register workload.
func (RefKV) Open(_ context.Context, node workloads.Node, kind string, _ int) (workloads.Client, error) {
	if kind != workloads.Register.Name {
		return nil, fmt.Errorf("refkv adapter: runs the register workload, not %q", kind)
	}
	return &refkvClient{c: newRefKVClient(node.Endpoint)}, nil
}

func (c *refkvClient) Close() error {
	c.c.HTTP.CloseIdleConnections()
	return nil
}

// Invoke runs read, write or cas. A refusal the node marks definite is a
// failure; any other error leaves a write's outcome unknown. Reads that
// error failed: a read has no effect.
func (c *refkvClient) Invoke(ctx context.Context, op workloads.Op) workloads.Result {
	outcome := func(err error) workloads.Result {
		var e *refkv.Error
		if errors.As(err, &e) && e.Definite {
			return workloads.Result{Outcome: workloads.Fail, Err: err}
		}
		return workloads.Result{Outcome: workloads.Unknown, Err: err}
	}
	switch op.F {
	case "read":
		v, err := c.c.Read(ctx, op.Key)
		if err != nil {
			return workloads.Result{Outcome: workloads.Fail, Err: err}
		}
		if v == nil {
			return workloads.Result{Outcome: workloads.OK, Value: null}
		}
		return workloads.Result{Outcome: workloads.OK, Value: json.RawMessage(strconv.FormatInt(*v, 10))}
	case "write":
		var arg int64
		if err := json.Unmarshal(op.Value, &arg); err != nil {
			return workloads.Result{Outcome: workloads.Fail, Err: fmt.Errorf("write needs a number, got %s", op.Value)}
		}
		if err := c.c.Write(ctx, op.Key, arg); err != nil {
			return outcome(err)
		}
		return workloads.Result{Outcome: workloads.OK}
	case "cas":
		var pair [2]*int64
		if err := json.Unmarshal(op.Value, &pair); err != nil || pair[1] == nil {
			return workloads.Result{Outcome: workloads.Fail, Err: fmt.Errorf("cas needs [old, new], got %s", op.Value)}
		}
		ok, err := c.c.CAS(ctx, op.Key, pair[0], *pair[1])
		if err != nil {
			return outcome(err)
		}
		if !ok {
			return workloads.Result{Outcome: workloads.Fail, Err: errors.New("compare failed")}
		}
		return workloads.Result{Outcome: workloads.OK}
	}
	return workloads.Result{Outcome: workloads.Fail, Err: fmt.Errorf("refkv adapter: unknown operation %q", op.F)}
}
