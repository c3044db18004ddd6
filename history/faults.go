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
	Label      string
	Start, End int64 // ns, on the history's clock
	// Observed is what the probes saw when the fault took effect, if recorded.
	Observed Observation
}

// FaultWindows reads the fault windows out of a history: each starts at a
// nemesis event (other than an observation) and ends at the next one. A fault still in force at the end
// of the history ends with its last record.
func FaultWindows(recs []Record) []FaultWindow {
	var out []FaultWindow
	var end int64
	cur := -1
	for _, r := range recs {
		end = max(end, r.Time)
		if r.Process != Nemesis || slices.Contains(Observations, r.F) || slices.Contains(Marks, r.F) {
			continue
		}
		if slices.Contains(FaultEnds, r.F) {
			if cur >= 0 {
				out[cur].End = r.Time
				cur = -1
			}
			continue
		}
		if r.Type != Info {
			continue // Jepsen's nemesis invokes
		}
		if cur >= 0 {
			out[cur].End = r.Time
		}
		w := FaultWindow{Label: FaultLabel(r), Start: r.Time, End: -1}
		switch e := DecodeEvent(r).(type) {
		case *PartitionEvent:
			w.Observed = e.Observed
		case *GrayEvent:
			w.Observed = e.Observed
		}
		out = append(out, w)
		cur = len(out) - 1
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
