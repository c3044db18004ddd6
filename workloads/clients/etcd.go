package clients

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/faultline/faultline/workloads"
	"github.com/faultline/faultline/workloads/nodecheck"
)

var (
	null = json.RawMessage("null")
	num  = func(v int64) json.RawMessage { return json.RawMessage(strconv.FormatInt(v, 10)) }
)

// Etcd is the built-in adapter for etcd, through its Go client. Each client
// is given only its node's endpoint and never syncs the member list, so
// during a partition it keeps talking to the side its node is on.
type Etcd struct {
	// Serializable answers reads from the member's local state, without
	// consulting the leader (they may be stale).
	Serializable bool
}

var (
	_ workloads.Adapter      = Etcd{}
	_ workloads.ReadyWaiter  = Etcd{}
	_ workloads.LeaderFinder = Etcd{}
	_ workloads.Client       = (*etcdClient)(nil)
)

type etcdClient struct {
	cli          *clientv3.Client
	run          func(c *etcdClient, ctx context.Context, op workloads.Op, arg int64) workloads.Result
	serializable bool
}

func dialEtcd(endpoint string) (*clientv3.Client, error) {
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
	return cli, nil
}

// Open connects a client for a workload kind to one member.
func (e Etcd) Open(_ context.Context, node workloads.Node, kind string, _ int) (workloads.Client, error) {
	k, err := workloads.Lookup(kind)
	if err != nil {
		return nil, fmt.Errorf("etcd adapter: %w", err)
	}
	run, ok := etcdWorkloads[k]
	if !ok {
		return nil, fmt.Errorf("etcd adapter: it does not run the %s workload", kind)
	}
	cli, err := dialEtcd(node.Endpoint)
	if err != nil {
		return nil, err
	}
	return &etcdClient{cli: cli, run: run, serializable: e.Serializable}, nil
}

func (c *etcdClient) Close() error { return c.cli.Close() }

// etcdWorkloads is how each workload runs on etcd: a register is a key, a
// set a key per element under the set's prefix, a counter and a list a
// key updated in a transaction.
var etcdWorkloads = map[*workloads.Kind]func(c *etcdClient, ctx context.Context, op workloads.Op, arg int64) workloads.Result{
	workloads.Register:  (*etcdClient).register,
	workloads.Set:       (*etcdClient).set,
	workloads.Counter:   (*etcdClient).counter,
	workloads.Append:    (*etcdClient).list,
	workloads.UniqueIDs: (*etcdClient).id,
}

// etcdRuns lists the workloads the etcd adapter runs, in the workloads'
// order.
func etcdRuns() []string {
	var out []string
	for _, k := range workloads.Kinds() {
		if _, ok := etcdWorkloads[k]; ok {
			out = append(out, k.Name)
		}
	}
	return out
}

// Invoke runs one operation. Reads that error failed (a read has no
// effect, so leaving it out is always safe); writes that error have an
// unknown outcome, because the request may have been committed before the
// answer was lost.
func (c *etcdClient) Invoke(ctx context.Context, op workloads.Op) workloads.Result {
	var arg int64
	if !op.Read && op.F != "cas" {
		if err := json.Unmarshal(op.Value, &arg); err != nil {
			return workloads.Result{Outcome: workloads.Fail, Err: fmt.Errorf("%s needs a number, got %s", op.F, op.Value)}
		}
	}
	return c.run(c, ctx, op, arg)
}

func noOp(op workloads.Op) workloads.Result {
	return workloads.Result{Outcome: workloads.Fail, Err: fmt.Errorf("the etcd adapter has no operation %q for this workload", op.F)}
}

func (c *etcdClient) register(ctx context.Context, op workloads.Op, arg int64) workloads.Result {
	switch op.F {
	case "read":
		return c.readNumber(ctx, op.Key, null)
	case "write":
		if _, err := c.cli.Put(ctx, op.Key, strconv.FormatInt(arg, 10)); err != nil {
			return workloads.Result{Outcome: workloads.Unknown, Err: err}
		}
		return workloads.Result{Outcome: workloads.OK}
	case "cas":
		var pair [2]*int64
		if err := json.Unmarshal(op.Value, &pair); err != nil || pair[1] == nil {
			return workloads.Result{Outcome: workloads.Fail, Err: fmt.Errorf("cas needs [old, new], got %s", op.Value)}
		}
		cmp := clientv3.Compare(clientv3.CreateRevision(op.Key), "=", 0)
		if pair[0] != nil {
			cmp = clientv3.Compare(clientv3.Value(op.Key), "=", strconv.FormatInt(*pair[0], 10))
		}
		resp, err := c.cli.Txn(ctx).If(cmp).Then(clientv3.OpPut(op.Key, strconv.FormatInt(*pair[1], 10))).Commit()
		if err != nil {
			return workloads.Result{Outcome: workloads.Unknown, Err: err}
		}
		if !resp.Succeeded {
			return workloads.Result{Outcome: workloads.Fail, Err: errors.New("compare failed")}
		}
		return workloads.Result{Outcome: workloads.OK}
	}
	return noOp(op)
}

// readNumber reads a key holding a number; an absent key reads as absent.
func (c *etcdClient) readNumber(ctx context.Context, key string, absent json.RawMessage) workloads.Result {
	raw, _, err := c.get(ctx, key)
	if err != nil {
		return workloads.Result{Outcome: workloads.Fail, Err: err}
	}
	if raw == nil {
		return workloads.Result{Outcome: workloads.OK, Value: absent}
	}
	if _, err := strconv.ParseInt(string(raw), 10, 64); err != nil {
		return workloads.Result{Outcome: workloads.Fail, Err: fmt.Errorf("key %s holds %q, not a number", key, raw)}
	}
	return workloads.Result{Outcome: workloads.OK, Value: json.RawMessage(raw)}
}

func (c *etcdClient) set(ctx context.Context, op workloads.Op, arg int64) workloads.Result {
	switch op.F {
	case "read":
		return c.readSet(ctx, op.Key)
	case "add":
		// Each element is a key of its own under the set's prefix.
		if _, err := c.cli.Put(ctx, op.Key+"/"+strconv.FormatInt(arg, 10), ""); err != nil {
			return workloads.Result{Outcome: workloads.Unknown, Err: err}
		}
		return workloads.Result{Outcome: workloads.OK}
	}
	return noOp(op)
}

func (c *etcdClient) counter(ctx context.Context, op workloads.Op, arg int64) workloads.Result {
	switch op.F {
	case "read":
		return c.readNumber(ctx, op.Key, num(0))
	case "add":
		return c.update(ctx, op.Key, func(cur []byte) (string, error) {
			n := int64(0)
			if cur != nil {
				var err error
				if n, err = strconv.ParseInt(string(cur), 10, 64); err != nil {
					return "", fmt.Errorf("key %s holds %q, not a counter", op.Key, cur)
				}
			}
			return strconv.FormatInt(n+arg, 10), nil
		})
	}
	return noOp(op)
}

// id is a unique id: the revision of a put, which etcd gives each change
// of its keyspace once.
func (c *etcdClient) id(ctx context.Context, op workloads.Op, _ int64) workloads.Result {
	if op.F != "generate" {
		return noOp(op)
	}
	resp, err := c.cli.Put(ctx, op.Key, "")
	if err != nil {
		return workloads.Result{Outcome: workloads.Unknown, Err: err}
	}
	return workloads.Result{Outcome: workloads.OK, Value: num(resp.Header.Revision)}
}

func (c *etcdClient) list(ctx context.Context, op workloads.Op, arg int64) workloads.Result {
	switch op.F {
	case "read":
		raw, _, err := c.get(ctx, op.Key)
		if err != nil {
			return workloads.Result{Outcome: workloads.Fail, Err: err}
		}
		return workloads.Result{Outcome: workloads.OK, Value: listJSON(raw)}
	case "append":
		return c.update(ctx, op.Key, func(cur []byte) (string, error) {
			if len(cur) == 0 {
				return strconv.FormatInt(arg, 10), nil
			}
			return string(cur) + "," + strconv.FormatInt(arg, 10), nil
		})
	}
	return noOp(op)
}

// get reads one key: its value (nil when absent) and mod revision.
func (c *etcdClient) get(ctx context.Context, key string) ([]byte, int64, error) {
	var opts []clientv3.OpOption
	if c.serializable {
		opts = append(opts, clientv3.WithSerializable())
	}
	resp, err := c.cli.Get(ctx, key, opts...)
	if err != nil {
		return nil, 0, err
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, nil
	}
	return resp.Kvs[0].Value, resp.Kvs[0].ModRevision, nil
}

func (c *etcdClient) readSet(ctx context.Context, key string) workloads.Result {
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithKeysOnly()}
	if c.serializable {
		opts = append(opts, clientv3.WithSerializable())
	}
	resp, err := c.cli.Get(ctx, key+"/", opts...)
	if err != nil {
		return workloads.Result{Outcome: workloads.Fail, Err: err}
	}
	elems := []int64{}
	for _, kv := range resp.Kvs {
		n, err := strconv.ParseInt(strings.TrimPrefix(string(kv.Key), key+"/"), 10, 64)
		if err != nil {
			return workloads.Result{Outcome: workloads.Fail, Err: fmt.Errorf("set %s holds key %q", key, kv.Key)}
		}
		elems = append(elems, n)
	}
	sort.Slice(elems, func(i, j int) bool { return elems[i] < elems[j] })
	b, err := json.Marshal(elems)
	if err != nil {
		return workloads.Result{Outcome: workloads.Fail, Err: err}
	}
	return workloads.Result{Outcome: workloads.OK, Value: b}
}

// update is a read-modify-write in one transaction guarded by the key's
// mod revision, retried while other clients win the race. A transaction
// that errors has an unknown outcome; running out of tries (or time)
// before any attempt committed is a failure.
func (c *etcdClient) update(ctx context.Context, key string, f func(cur []byte) (string, error)) workloads.Result {
	var lastErr error
	for try := 0; try < 20; try++ {
		resp, err := c.cli.Get(ctx, key)
		if err != nil {
			return workloads.Result{Outcome: workloads.Fail, Err: err} // nothing written yet
		}
		var cur []byte
		rev := int64(0)
		if len(resp.Kvs) > 0 {
			cur, rev = resp.Kvs[0].Value, resp.Kvs[0].ModRevision
		}
		next, err := f(cur)
		if err != nil {
			return workloads.Result{Outcome: workloads.Fail, Err: err}
		}
		txn, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).Then(clientv3.OpPut(key, next)).Commit()
		if err != nil {
			return workloads.Result{Outcome: workloads.Unknown, Err: err}
		}
		if txn.Succeeded {
			return workloads.Result{Outcome: workloads.OK}
		}
		lastErr = errors.New("lost the race to other writers")
	}
	return workloads.Result{Outcome: workloads.Fail, Err: fmt.Errorf("gave up after 20 tries: %w", lastErr)}
}

// listJSON turns "1,2,3" into [1,2,3] (an absent key is the empty list).
func listJSON(raw []byte) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("[]")
	}
	return json.RawMessage("[" + string(raw) + "]")
}

// WaitReady waits until every member answers a linearizable read, which
// needs an elected leader and a quorum behind it.
func (Etcd) WaitReady(ctx context.Context, nodes []workloads.Node) error {
	return nodecheck.WaitReady(ctx, nodes, func(ctx context.Context, n workloads.Node) error {
		cli, err := dialEtcd(n.Endpoint)
		if err != nil {
			return err
		}
		_, err = cli.Get(ctx, "faultline-ready")
		return errors.Join(err, cli.Close())
	})
}

// Leader asks every member whom it follows and answers with the leader of
// the highest term seen: a member cut off from the majority may still name
// an old leader.
func (Etcd) Leader(ctx context.Context, nodes []workloads.Node) (string, error) {
	var (
		bestTerm uint64
		bestID   uint64
		byID     = map[uint64]string{}
		lastErr  error
	)
	for _, n := range nodes {
		cli, err := dialEtcd(n.Endpoint)
		if err != nil {
			lastErr = err
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := cli.Status(sctx, n.Endpoint)
		if err == nil {
			var ml *clientv3.MemberListResponse
			if ml, err = cli.MemberList(sctx, clientv3.WithSerializable()); err == nil {
				for _, m := range ml.Members {
					byID[m.ID] = m.Name
				}
			}
		}
		cancel()
		err = errors.Join(err, cli.Close())
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
