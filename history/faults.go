package history

import (
	"fmt"
	"slices"
	"strings"
)

// FaultEnds are the nemesis events that end a fault: those faultline's
// nemesis writes, and Jepsen's :stop. Every other nemesis info event
// starts one.
var FaultEnds = []string{"heal", "restart", "resume", "stop"}

// Observations are the nemesis events that record what was seen, not a
// fault: they neither start nor end one.
var Observations = []string{"leader"}

// FaultWindow is a span of the history during which one fault was in force.
type FaultWindow struct {
	Label string
	// Start is when the fault was applied: its invocation, which the
	// nemesis records before it acts (as Jepsen's does). End is when its
	// heal was applied, likewise.
	Start, End int64 // ns, on the history's clock
	// Confirmed is when the fault was recorded in force, its probes
	// having answered (Start, for a history that records no invocation).
	Confirmed int64
	// Observed is what the probes saw when the fault took effect, if recorded.
	Observed Observation
	// Healed is what the probes saw once the fault was healed, and
	// HealConfirmed when (0: no heal recorded with its probes).
	Healed        Observation
	HealConfirmed int64
}

// FaultWindows reads the fault windows out of a history. A window starts
// at a fault's invocation when the history records one (the nemesis
// event of the same f just before the completion that says the fault is
// in force), else at that completion; it ends at the invocation of the
// next event that ends a fault (FaultEnds), or when the next fault
// starts. Observations and the history's marks open and close nothing. A
// fault still in force at the end of the history ends with its last
// record.
func FaultWindows(recs []Record) []FaultWindow {
	var out []FaultWindow
	var end int64
	cur, ended := -1, -1 // the window in force; the one whose heal was invoked last
	var invoked *Record  // a fault's invocation, awaiting its completion
	for i := range recs {
		r := &recs[i]
		end = max(end, r.Time)
		if r.Process != Nemesis || slices.Contains(Observations, r.F) || slices.Contains(Marks, r.F) {
			continue
		}
		if slices.Contains(FaultEnds, r.F) {
			invoked = nil
			if cur >= 0 {
				out[cur].End = r.Time
				ended, cur = cur, -1
			}
			if e, ok := DecodeEvent(*r).(*HealEvent); ok && r.Type == Info && ended >= 0 {
				out[ended].Healed, out[ended].HealConfirmed = e.Observed, r.Time
				ended = -1
			}
			continue
		}
		if r.Type == Invoke {
			invoked = r
			continue
		}
		if r.Type != Info {
			invoked = nil
			continue // a fault that did not happen
		}
		start := r.Time
		if invoked != nil && invoked.F == r.F {
			start = invoked.Time
		}
		invoked = nil
		if cur >= 0 {
			out[cur].End = start
		}
		w := FaultWindow{Label: FaultLabel(*r), Start: start, Confirmed: r.Time, End: -1}
		switch e := DecodeEvent(*r).(type) {
		case *PartitionEvent:
			w.Observed = e.Observed
		case *GrayEvent:
			w.Observed = e.Observed
		}
		out = append(out, w)
		cur, ended = len(out)-1, -1
	}
	if cur >= 0 {
		out[cur].End = end
	}
	return out
}

// FaultLabel names a fault event for people: "partition halves: n1 | n2 n3",
// "kill n2", "gray (6 links)", else f and the raw value.
func FaultLabel(r Record) string {
	switch e := DecodeEvent(r).(type) {
	case *PartitionEvent:
		if e.Shape != "" {
			return fmt.Sprintf("%s %s: %s", r.F, e.Shape, e.Summary)
		}
	case *NodesEvent:
		if len(e.Nodes) > 0 {
			return r.F + " " + strings.Join(e.Nodes, " ")
		}
	case *GrayEvent:
		if len(e.Links) > 0 {
			return fmt.Sprintf("%s (%d links)", r.F, len(e.Links))
		}
	}
	return strings.TrimSpace(r.F + " " + string(r.Value))
}

// LeaderSpan is a stretch of the history during which the system named
// one leader (Leader "" while it named none).
type LeaderSpan struct {
	Leader     string
	Start, End int64 // ns, on the history's clock
}

// Leaders reads the leader over time out of a history's leader events:
// each span lasts until the next event, the last until the history's end.
// No events (a system that cannot say who leads): none.
func Leaders(recs []Record) []LeaderSpan {
	var out []LeaderSpan
	var end int64
	for _, r := range recs {
		end = max(end, r.Time)
		if r.Process != Nemesis || r.F != "leader" {
			continue
		}
		e, ok := DecodeEvent(r).(*LeaderEvent)
		if !ok {
			continue
		}
		if n := len(out); n > 0 {
			if out[n-1].Leader == e.Leader {
				continue
			}
			out[n-1].End = r.Time
		}
		out = append(out, LeaderSpan{Leader: e.Leader, Start: r.Time})
	}
	if n := len(out); n > 0 {
		out[n-1].End = end
	}
	return out
}

// LeaderAt names the leader in force at time t ("" when none was named,
// or t is outside the spans).
func LeaderAt(spans []LeaderSpan, t int64) string {
	for _, s := range spans {
		if s.Start <= t && t < s.End {
			return s.Leader
		}
	}
	return ""
}
