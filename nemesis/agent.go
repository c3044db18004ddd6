package nemesis

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"
)

// Agent acts inside one node's network namespace: it holds faultline's
// table, qdisc and userspace stage there, and sends and receives probes.
// Net drives one agent per node and knows nothing of how it reaches the
// namespace: NamespaceAgent enters it from this process (root on the
// engine's host); RemoteAgent talks to a helper container that shares the
// namespace and runs a NamespaceAgent of its own (Serve), so the same code
// acts either way (decision 13).
type Agent interface {
	// Set makes the node's table, qdisc and userspace stage hold exactly
	// r, the table in one batch.
	Set(ctx context.Context, r NodeRules) error
	// Listen opens the probe's listener on the node's address (UDP; a TCP
	// probe connects to what the node serves).
	Listen(ctx context.Context, p Probe) error
	// Send sends the probe to each peer: three datagrams for UDP (what
	// arrived is told by Collect), a connection for TCP, whose outcome it
	// returns.
	Send(ctx context.Context, p Probe, peers []Peer, wait time.Duration) (map[string]Outcome, error)
	// Collect closes the probe's listener and names the peers whose
	// probes arrived.
	Collect(ctx context.Context, p Probe) ([]string, error)
	// Seen counts the packets to dst that reached the userspace stage.
	Seen(ctx context.Context, dst netip.Addr) (int64, error)
	// Rules counts the rules in faultline's table.
	Rules(ctx context.Context) (int, error)
	// Gone reports whether the namespace is gone: its container stopped
	// or was removed underneath the run.
	Gone() bool
	// Close lets go of the namespace, after emptying what it holds; with
	// remove, faultline's table is deleted too (the end of the run).
	Close(ctx context.Context, remove bool) error
}

// Peer is another node, as a probe addresses it.
type Peer struct {
	Name string     `json:"name"`
	Addr netip.Addr `json:"addr"`
}

// Outcome is what became of one probe.
type Outcome int

const (
	Silent  Outcome = iota // nothing came back: the packet, or its answer, was lost
	Arrived                // the datagram arrived, or the connection was made
	Refused                // a TCP reset came back: the peer's stack, or a local reject
)

func (o Outcome) String() string {
	switch o {
	case Arrived:
		return "arrived"
	case Refused:
		return "refused"
	}
	return "silent"
}

// MarshalText writes the outcome's name, for the helper protocol.
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText reads what MarshalText writes.
func (o *Outcome) UnmarshalText(b []byte) error {
	switch string(b) {
	case "arrived":
		*o = Arrived
	case "refused":
		*o = Refused
	case "silent":
		*o = Silent
	default:
		return fmt.Errorf("unknown probe outcome %q", b)
	}
	return nil
}

// Match selects packets exchanged with one peer, within a scope.
type Match struct {
	Peer  netip.Addr `json:"peer"`
	Scope Scope      `json:"scope"`
}

// LossMatch drops a share of the packets from one peer.
type LossMatch struct {
	Peer netip.Addr `json:"peer"`
	// Per10k is the share dropped, in hundredths of a percent.
	Per10k uint32 `json:"per10k"`
}

// QueueLink sends the node's packets to one peer through the userspace
// stage, which degrades them as Gray says.
type QueueLink struct {
	Peer netip.Addr `json:"peer"`
	Gray Gray       `json:"gray"`
}

// RateMatch caps the node's traffic to one peer (BPS 0: no cap) and, with
// Netem set, degrades it with sch_netem.
type RateMatch struct {
	Peer  netip.Addr `json:"peer"`
	BPS   uint64     `json:"bps,omitempty"`
	Netem *Gray      `json:"netem,omitempty"`
}

// NodeRules is the whole desired state of one node: its table, its qdisc
// and what its userspace stage does. It is what crosses to a helper.
type NodeRules struct {
	DropFrom []Match     `json:"drop_from,omitempty"` // input:  ip saddr PEER [scope] drop
	RejectTo []Match     `json:"reject_to,omitempty"` // output: ip daddr PEER [scope] reject
	LossFrom []LossMatch `json:"loss_from,omitempty"` // input:  ip saddr PEER numgen random mod 10000 < N drop
	Queue    []QueueLink `json:"queue,omitempty"`     // output: ip daddr PEER meta mark != dup queue to the stage
	RateTo   []RateMatch `json:"rate_to,omitempty"`   // qdisc: htb class per PEER
	// Seed seeds the stage's random choices.
	Seed uint64 `json:"seed,omitempty"`
}

// emptyTable reports whether the node needs no rule at all.
func (r NodeRules) emptyTable() bool {
	return len(r.DropFrom) == 0 && len(r.RejectTo) == 0 && len(r.LossFrom) == 0 && len(r.Queue) == 0
}

// Empty reports whether the rules hold no fault.
func (r NodeRules) Empty() bool { return r.emptyTable() && len(r.RateTo) == 0 }

// queueLinks is the stage's degradation by destination.
func (r NodeRules) queueLinks() map[netip.Addr]Gray {
	m := make(map[netip.Addr]Gray, len(r.Queue))
	for _, q := range r.Queue {
		m[q.Peer] = q.Gray
	}
	return m
}

func (r NodeRules) String() string {
	b, _ := json.Marshal(r)
	return string(b)
}
