package refkv

import (
	"fmt"
	"strings"
)

// Bug names one deliberate defect refkv can be started with. The zero value
// is the correct build.
type Bug string

// The bugs, each modelled on a class of defect seen in real systems. Each
// changes exactly one decision in the node; docs/subject.md says which and
// what finds it.
const (
	None Bug = ""
	// StaleLeaderReads: a leader answers reads from its own state without
	// holding a lease, so a deposed leader that has not yet noticed serves
	// stale values (reads served without confirming leadership).
	StaleLeaderReads Bug = "stale-leader-reads"
	// FollowerReads: every node answers reads from its own applied state.
	FollowerReads Bug = "follower-reads"
	// EarlyAck: the leader applies a write and acknowledges it as soon as it
	// is in its own log, before a majority has it; failover loses it.
	EarlyAck Bug = "early-ack"
	// SplitBrain: a node that cannot win an election within a few election
	// timeouts promotes itself to leader without a quorum and commits alone.
	SplitBrain Bug = "split-brain"
	// SendOnlyQuorum: the leader's quorum check (its read lease and its
	// step-down) counts peers it could send heartbeats to, not peers it
	// heard from: it keeps leading while it can send but not receive.
	SendOnlyQuorum Bug = "send-only-quorum"
	// HeartbeatPortFD: the leader's quorum check trusts the failure
	// detector on the heartbeat port, not acknowledgements on the
	// replication port: cut only the replication port and it keeps its
	// lease while the others elect a new leader.
	HeartbeatPortFD Bug = "heartbeat-port-fd"
	// RetryForward: a follower forwarding a client's write to the leader
	// retries it when the leader is slow to answer, without deduplication;
	// a delayed first attempt and its retry are both applied.
	RetryForward Bug = "retry-forward"
)

// Bugs lists every bug, in the order docs/subject.md numbers them.
var Bugs = []Bug{StaleLeaderReads, FollowerReads, EarlyAck, SplitBrain, SendOnlyQuorum, HeartbeatPortFD, RetryForward}

// ParseBug accepts "" or "none" for the correct build, or one of Bugs.
func ParseBug(s string) (Bug, error) {
	if s == "" || s == "none" {
		return None, nil
	}
	for _, b := range Bugs {
		if string(b) == s {
			return b, nil
		}
	}
	return None, fmt.Errorf("unknown bug %q; known: none, %s", s, BugNames())
}

// BugNames lists the bugs, comma-separated.
func BugNames() string {
	names := make([]string, len(Bugs))
	for i, b := range Bugs {
		names[i] = string(b)
	}
	return strings.Join(names, ", ")
}
