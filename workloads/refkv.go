package workloads

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/faultline/faultline/refkv"
)

// RefKV is the built-in adapter for refkv, the reference store with
// switchable bugs, over its HTTP API. Like the etcd adapter, each client
// talks only to its own node; the node forwards to the leader.
type RefKV struct{}

var (
	_ Adapter      = RefKV{}
	_ ReadyWaiter  = RefKV{}
	_ LeaderFinder = RefKV{}
)

type refkvClient struct{ c *refkv.Client }

func newRefKVClient(endpoint string) *refkv.Client {
	return &refkv.Client{Base: endpoint, HTTP: &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
		MaxIdleConnsPerHost: 4,
	}}}
}

// Open connects a client; refkv runs the register workload.
func (RefKV) Open(_ context.Context, node Node, kind string, _ int) (Client, error) {
	if kind != Register {
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
func (c *refkvClient) Invoke(ctx context.Context, op Op) Result {
	outcome := func(err error) Result {
		var e *refkv.Error
		if errors.As(err, &e) && e.Definite {
			return Result{Outcome: Fail, Err: err}
		}
		return Result{Outcome: Unknown, Err: err}
	}
	switch op.F {
	case "read":
		v, err := c.c.Read(ctx, op.Key)
		if err != nil {
			return Result{Outcome: Fail, Err: err}
		}
		if v == nil {
			return Result{Outcome: OK, Value: null}
		}
		return Result{Outcome: OK, Value: json.RawMessage(strconv.FormatInt(*v, 10))}
	case "write":
		var arg int64
		if err := json.Unmarshal(op.Value, &arg); err != nil {
			return Result{Outcome: Fail, Err: fmt.Errorf("write needs a number, got %s", op.Value)}
		}
		if err := c.c.Write(ctx, op.Key, arg); err != nil {
			return outcome(err)
		}
		return Result{Outcome: OK}
	case "cas":
		var pair [2]*int64
		if err := json.Unmarshal(op.Value, &pair); err != nil || pair[1] == nil {
			return Result{Outcome: Fail, Err: fmt.Errorf("cas needs [old, new], got %s", op.Value)}
		}
		ok, err := c.c.CAS(ctx, op.Key, pair[0], *pair[1])
		if err != nil {
			return outcome(err)
		}
		if !ok {
			return Result{Outcome: Fail, Err: errors.New("compare failed")}
		}
		return Result{Outcome: OK}
	}
	return Result{Outcome: Fail, Err: fmt.Errorf("refkv adapter: unknown operation %q", op.F)}
}

// WaitReady waits until every node answers a read, which needs a leader
// holding its lease.
func (RefKV) WaitReady(ctx context.Context, nodes []Node) error {
	return waitEach(ctx, nodes, func(ctx context.Context, n Node) error {
		c := newRefKVClient(n.Endpoint)
		defer c.HTTP.CloseIdleConnections()
		_, err := c.Read(ctx, "faultline-ready")
		return err
	})
}

// Leader answers with the leader of the highest term any node reports,
// waiting up to five seconds for an election in progress to end.
func (RefKV) Leader(ctx context.Context, nodes []Node) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		name, err := refkvLeader(ctx, nodes)
		if err == nil {
			return name, nil
		}
		select {
		case <-ctx.Done():
			return "", err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func refkvLeader(ctx context.Context, nodes []Node) (string, error) {
	var (
		best    string
		term    uint64
		lastErr error
	)
	for _, n := range nodes {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		s, err := newRefKVClient(n.Endpoint).Status(sctx)
		cancel()
		if err != nil {
			lastErr = err
			continue
		}
		if s.Leader != "" && s.Term >= term {
			best, term = s.Leader, s.Term
		}
	}
	if best != "" {
		return best, nil
	}
	if lastErr == nil {
		lastErr = errors.New("no node names a leader")
	}
	return "", fmt.Errorf("find the refkv leader: %w", lastErr)
}
