package history

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// FaultEnds are the nemesis events that end a fault: those faultline's
// nemesis writes, and Jepsen's :stop. Every other nemesis info event
// starts one.
var FaultEnds = []string{"heal", "restart", "resume", "stop"}

// FaultWindow is a span of the history during which one fault was in force.
type FaultWindow struct {
	Label      string
	Start, End int64 // ns since the run started
	// Observed is what the probes saw when the fault took effect, if recorded.
	Observed map[string]map[string][]string
}

// FaultWindows reads the fault windows out of a history: each starts at a
// nemesis event and ends at the next one. A fault still in force at the end
// of the history ends with its last record.
func FaultWindows(recs []Record) []FaultWindow {
	var out []FaultWindow
	var end int64
	cur := -1
	for _, r := range recs {
		end = max(end, r.Time)
		if r.Process != Nemesis {
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
		var v struct {
			Observed map[string]map[string][]string `json:"observed"`
		}
		if json.Unmarshal(r.Value, &v) == nil {
			w.Observed = v.Observed
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
	var v struct {
		Shape   string            `json:"shape"`
		Summary string            `json:"summary"`
		Nodes   []string          `json:"nodes"`
		Links   []json.RawMessage `json:"links"`
	}
	if json.Unmarshal(r.Value, &v) == nil {
		switch {
		case v.Shape != "":
			return fmt.Sprintf("%s %s: %s", r.F, v.Shape, v.Summary)
		case len(v.Nodes) > 0:
			return r.F + " " + strings.Join(v.Nodes, " ")
		case len(v.Links) > 0:
			return fmt.Sprintf("%s (%d links)", r.F, len(v.Links))
		}
	}
	return strings.TrimSpace(r.F + " " + string(r.Value))
}
