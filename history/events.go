package history

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// The values the nemesis records with its events: typed here, in the leaf
// every package shares, so that the report and the checker decode them as
// the nemesis wrote them.

// Observation is what the probes saw: for each probe, each source node and
// the destinations its probe reached. It is recorded with the fault event.
type Observation map[string]map[string][]string

// PartitionEvent is the value of a "partition" event: the partition in
// force and what the probes saw once it was.
type PartitionEvent struct {
	Shape     string              `json:"shape"`
	Direction string              `json:"direction"`
	Grudge    map[string][]string `json:"grudge"`
	Scope     string              `json:"scope"`
	Action    string              `json:"action"`
	Summary   string              `json:"summary"`
	Observed  Observation         `json:"observed"`
}

// Gray is a gray fault on one directed link: packets from From to To are
// degraded, not cut. Percentages are 0-100.
type Gray struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Loss drops this share of packets at random. With Correlation, each
	// decision leans on the one before (a two-state Markov chain whose
	// long-run loss is still Loss), so losses come in bursts.
	Loss        float64 `json:"loss,omitempty"`
	Correlation float64 `json:"correlation,omitempty"`
	// Delay holds each packet back; Jitter varies it, drawn from
	// Distribution ("uniform": Delay ± Jitter, or "normal": σ = Jitter),
	// never below zero.
	Delay        time.Duration `json:"delay_ns,omitempty"`
	Jitter       time.Duration `json:"jitter_ns,omitempty"`
	Distribution string        `json:"distribution,omitempty"`
	// Duplicate sends this share of packets twice.
	Duplicate float64 `json:"duplicate,omitempty"`
	// Reorder sends this share of packets at once, ahead of the delayed
	// others (needs Delay), as netem does.
	Reorder float64 `json:"reorder,omitempty"`
	// Corrupt flips one random bit past the transport header in this share
	// of packets.
	Corrupt float64 `json:"corrupt,omitempty"`
	// Rate caps the link's throughput, in bits per second.
	Rate uint64 `json:"rate_bps,omitempty"`
}

// Describe says what a gray fault does to a link: "loss 30%, delay 100ms ± 20ms".
func (g Gray) Describe() string {
	var parts []string
	if g.Loss > 0 {
		s := fmt.Sprintf("loss %g%%", g.Loss)
		if g.Correlation > 0 {
			s += fmt.Sprintf(" (correlation %g%%)", g.Correlation)
		}
		parts = append(parts, s)
	}
	if g.Delay > 0 {
		s := "delay " + g.Delay.String()
		if g.Jitter > 0 {
			s += " ± " + g.Jitter.String()
			if g.Distribution == "normal" {
				s += " (normal)"
			}
		}
		parts = append(parts, s)
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"duplicate", g.Duplicate}, {"reorder", g.Reorder}, {"corrupt", g.Corrupt}} {
		if p.v > 0 {
			parts = append(parts, fmt.Sprintf("%s %g%%", p.name, p.v))
		}
	}
	if g.Rate > 0 {
		parts = append(parts, "rate "+FormatRate(g.Rate))
	}
	if len(parts) == 0 {
		return "no degradation"
	}
	return strings.Join(parts, ", ")
}

// FormatRate writes bits per second the way tc does: 1mbit, 512kbit.
func FormatRate(bps uint64) string {
	switch {
	case bps >= 1e9 && bps%1e9 == 0:
		return fmt.Sprintf("%dgbit", bps/1e9)
	case bps >= 1e6 && bps%1e6 == 0:
		return fmt.Sprintf("%dmbit", bps/1e6)
	case bps >= 1e3 && bps%1e3 == 0:
		return fmt.Sprintf("%dkbit", bps/1e3)
	}
	return fmt.Sprintf("%dbit", bps)
}

// GrayEvent is the value of a "gray" event: the degraded links and what
// the probes saw.
type GrayEvent struct {
	Links    []Gray      `json:"links"`
	Observed Observation `json:"observed"`
}

// NodesEvent is the value of a "kill", "restart", "pause" or "resume"
// event: the nodes it acted on.
type NodesEvent struct {
	Nodes []string `json:"nodes"`
}

// HealEvent is the value of a "heal" event: why (EndOfRun for the
// harness's last heal), and what the probes saw once the network was whole
// again.
type HealEvent struct {
	Why      string      `json:"why,omitempty"`
	Observed Observation `json:"observed,omitempty"`
}

// LeaderEvent is the value of a "leader" event: who the system said led,
// recorded whenever the answer changed while the workload ran. Leader is
// "" when no node could be named, and Error then says why. It is an
// observation, not a fault (Observations).
type LeaderEvent struct {
	Leader string `json:"leader"`
	Error  string `json:"error,omitempty"`
}

// EndOfRun is why the last heal of a run happened: the workload ended,
// and what follows are the final reads.
const EndOfRun = "end of run"

// DecodeEvent decodes a nemesis event's value by its f: a
// *PartitionEvent, *GrayEvent, *NodesEvent, *HealEvent or *LeaderEvent, or
// nil for an event of another kind (Jepsen's, say) or a value that does
// not decode.
func DecodeEvent(r Record) any {
	var v any
	switch r.F {
	case "partition":
		v = &PartitionEvent{}
	case "gray":
		v = &GrayEvent{}
	case "kill", "restart", "pause", "resume":
		v = &NodesEvent{}
	case "heal":
		v = &HealEvent{}
	case "leader":
		v = &LeaderEvent{}
	default:
		return nil
	}
	if json.Unmarshal(r.Value, v) != nil {
		return nil
	}
	return v
}
