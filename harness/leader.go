package harness

import (
	"context"
	"errors"
	"time"

	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/workloads"
	"github.com/faultline/faultline/workloads/clients"
	"github.com/faultline/faultline/workloads/nodecheck"
)

// leaderEvery is how often the leader watch asks who leads.
const leaderEvery = time.Second

// watchLeader asks the system who leads every leaderEvery while the
// workload runs (until stop) and records each change as a "leader" event,
// so the report can draw the leader over time and name the leader when
// each fault began. A question that names nobody (an election, a node
// gone) is recorded once as no leader with the reason; a client program
// that cannot answer leader requests ends the watch. Only a history that
// cannot be written stops the run.
func watchLeader(ctx context.Context, stop time.Time, ask nodecheck.LeaderFunc, nodes []workloads.Node, record func(string, any) error) error {
	ctx, cancel := context.WithDeadline(ctx, stop)
	defer cancel()
	last, first := "", true
	for {
		began := time.Now()
		qctx, qcancel := context.WithTimeout(ctx, 2*leaderEvery)
		name, err := ask(qctx, nodes)
		qcancel()
		if ctx.Err() != nil {
			return nil // the answer may be the deadline's, not the system's
		}
		if first || name != last {
			e := history.LeaderEvent{Leader: name}
			if err != nil {
				e.Error = err.Error()
				if len(e.Error) > 300 {
					e.Error = e.Error[:297] + "..."
				}
			}
			if rerr := record("leader", e); rerr != nil {
				return rerr
			}
			last, first = name, false
		}
		if errors.Is(err, clients.ErrClientProgram) {
			return nil // a client program that cannot say now will not later
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(leaderEvery - time.Since(began)):
		}
	}
}
