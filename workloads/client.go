// Package workloads generates the operations clients run against the
// cluster and holds the client adapters that run them (etcd built in).
//
// Data enters as a RegisterConfig and a list of opened clients, one per
// logical client, each pinned to one node as Jepsen does; it leaves as
// history records, an invoke before each operation and an ok / fail / info
// completion after it, appended to the run's history.Writer as they happen.
package workloads

import (
	"context"
	"errors"
)

// Errors a caller may want to tell apart.
var (
	// ErrNotReady: the cluster did not answer within the ready timeout.
	ErrNotReady = errors.New("cluster not ready")
)

// RegOp is one register operation.
type RegOp struct {
	F   string // FRead, FWrite or FCAS
	Key string
	// Value is the value written (write) or the new value (cas). Values are
	// unique across the run; 0 stands for "no value" and is never written.
	Value int64
	// Old is the value a cas expects (0: the key must be absent).
	Old int64
}

// Register operation names, as they appear in the history's "f" field.
const (
	FRead  = "read"
	FWrite = "write"
	FCAS   = "cas"
)

// Outcome is how an operation ended.
type Outcome int

const (
	// OK: the operation happened.
	OK Outcome = iota
	// Fail: the operation certainly did not happen.
	Fail
	// Unknown: it may or may not have happened (timeout, lost connection).
	Unknown
)

// RegResult is what a client observed.
type RegResult struct {
	Outcome Outcome
	// Read is the value a read returned; 0 when the key was absent.
	Read int64
	Err  error
}

// RegisterClient runs register operations against one node.
type RegisterClient interface {
	Do(ctx context.Context, op RegOp) RegResult
	Close() error
}
