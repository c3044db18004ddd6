package workloads

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// EtcdClient is a register client pinned to one etcd member: it is given
// only that member's endpoint and never syncs the member list, so during a
// partition it keeps talking to the side its member is on.
type EtcdClient struct {
	cli          *clientv3.Client
	serializable bool
}

var _ RegisterClient = (*EtcdClient)(nil)

// OpenEtcd connects to one member. Serializable reads are answered from the
// member's local state without consulting the leader.
func OpenEtcd(endpoint string, serializable bool) (*EtcdClient, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            []string{endpoint},
		DialTimeout:          2 * time.Second,
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		Logger:               zap.NewNop(),
		DialOptions: []grpc.DialOption{
			// Reconnect within a second after a node comes back, rather
			// than gRPC's default backoff of up to two minutes.
			grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{
				BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, MaxDelay: time.Second,
			}}),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client for %s: %w", endpoint, err)
	}
	return &EtcdClient{cli: cli, serializable: serializable}, nil
}

// Do runs one operation. Reads that error failed (a read has no effect, so
// leaving it out is always safe); writes and compare-and-sets that error
// have an unknown outcome, because the request may have been committed
// before the answer was lost.
func (c *EtcdClient) Do(ctx context.Context, op RegOp) RegResult {
	switch op.F {
	case FRead:
		var opts []clientv3.OpOption
		if c.serializable {
			opts = append(opts, clientv3.WithSerializable())
		}
		resp, err := c.cli.Get(ctx, op.Key, opts...)
		if err != nil {
			return RegResult{Outcome: Fail, Err: err}
		}
		if len(resp.Kvs) == 0 {
			return RegResult{Outcome: OK}
		}
		v, err := strconv.ParseInt(string(resp.Kvs[0].Value), 10, 64)
		if err != nil {
			return RegResult{Outcome: Fail, Err: fmt.Errorf("key %s holds %q, not a register value", op.Key, resp.Kvs[0].Value)}
		}
		return RegResult{Outcome: OK, Read: v}
	case FWrite:
		if _, err := c.cli.Put(ctx, op.Key, strconv.FormatInt(op.Value, 10)); err != nil {
			return RegResult{Outcome: Unknown, Err: err}
		}
		return RegResult{Outcome: OK}
	case FCAS:
		cmp := clientv3.Compare(clientv3.Value(op.Key), "=", strconv.FormatInt(op.Old, 10))
		if op.Old == 0 {
			cmp = clientv3.Compare(clientv3.CreateRevision(op.Key), "=", 0)
		}
		resp, err := c.cli.Txn(ctx).If(cmp).Then(clientv3.OpPut(op.Key, strconv.FormatInt(op.Value, 10))).Commit()
		if err != nil {
			return RegResult{Outcome: Unknown, Err: err}
		}
		if !resp.Succeeded {
			return RegResult{Outcome: Fail, Err: errors.New("compare failed")}
		}
		return RegResult{Outcome: OK}
	}
	return RegResult{Outcome: Fail, Err: fmt.Errorf("unknown register operation %q", op.F)}
}

// Close closes the connection.
func (c *EtcdClient) Close() error { return c.cli.Close() }

// WaitEtcdReady waits until every endpoint answers a linearizable read,
// which needs an elected leader and a quorum behind it.
func WaitEtcdReady(ctx context.Context, endpoints []string) error {
	for _, ep := range endpoints {
		c, err := OpenEtcd(ep, false)
		if err != nil {
			return err
		}
		var last error
		for {
			octx, cancel := context.WithTimeout(ctx, time.Second)
			_, last = c.cli.Get(octx, "faultline-ready")
			cancel()
			if last == nil {
				break
			}
			select {
			case <-ctx.Done():
				c.Close()
				return fmt.Errorf("%w: %s did not answer a read: %v", ErrNotReady, ep, last)
			case <-time.After(200 * time.Millisecond):
			}
		}
		c.Close()
	}
	return nil
}

// EtcdLeader asks every member (name -> client URL) whom it follows and
// answers with the leader of the highest term seen: a member cut off from
// the majority may still name an old leader.
func EtcdLeader(ctx context.Context, endpoints map[string]string) (string, error) {
	var (
		bestTerm uint64
		bestID   uint64
		byID     = map[uint64]string{}
		lastErr  error
	)
	for _, url := range endpoints {
		c, err := OpenEtcd(url, false)
		if err != nil {
			lastErr = err
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := c.cli.Status(sctx, url)
		if err == nil {
			var ml *clientv3.MemberListResponse
			if ml, err = c.cli.MemberList(sctx, clientv3.WithSerializable()); err == nil {
				for _, m := range ml.Members {
					byID[m.ID] = m.Name
				}
			}
		}
		cancel()
		c.Close()
		if err != nil {
			lastErr = err
			continue
		}
		if st.Leader != 0 && st.RaftTerm >= bestTerm {
			bestTerm, bestID = st.RaftTerm, st.Leader
		}
	}
	if name, ok := byID[bestID]; ok && bestID != 0 {
		return name, nil
	}
	if lastErr == nil {
		lastErr = errors.New("no member names a leader")
	}
	return "", fmt.Errorf("find the etcd leader: %w", lastErr)
}
