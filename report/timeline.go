package report

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline/history"
)

// TimelineFile is the per-process timeline's name in a run's store folder.
const TimelineFile = "timeline.html"

// pageOps is how many operations one page of the timeline draws: past a
// few thousand boxes a page stops being readable, and a browser drawing a
// hundred thousand at once stops being quick.
const pageOps = 1000

// timelineData is what timeline.html embeds as JSON and its script draws a
// page at a time. Operations are ordered by invocation, and their numbers
// are delta-encoded (each start and history index from the one before),
// so a 600,000-operation run stays a few tens of megabytes.
type timelineData struct {
	Lanes  []string   `json:"lanes"`
	Fs     []string   `json:"fs"`
	Keys   []string   `json:"keys"`
	Ops    [][]any    `json:"ops"` // lane, Δstart, duration, outcome, f, key, label, Δindex[, error]
	Unit   float64    `json:"unit"`
	Faults [][]any    `json:"faults"`  // start, end, label (seconds)
	Leader [][]any    `json:"leader"`  // start, end, node ("" none)
	Pages  []int      `json:"pages"`   // index of each page's first operation
	Span   [2]float64 `json:"span"`    // the history's first and last time
	MaxDur float64    `json:"max_dur"` // the longest operation, in units
}

// unitNs is the timeline's time unit: 0.1 ms.
const unitNs = 100_000

// maxLabel bounds an operation's value as the timeline shows it; the
// history has it whole.
const maxLabel = 48

// timelineOf pairs each client operation and places it in a lane: one lane
// per logical client and node (a client that goes on as a new process after
// an unknown outcome stays in its lane, as in Jepsen), or per process when
// the number of clients is not known.
func timelineOf(recs []history.Record, clients int) timelineData {
	d := timelineData{Unit: unitNs / 1e9, Lanes: []string{}, Fs: []string{}, Keys: []string{}, Ops: [][]any{}, Faults: [][]any{}, Leader: [][]any{}, Pages: []int{}}
	ops, lanes, first, last := laneOps(recs, clients, &d)
	nameLanes(&d, lanes, ops, clients)
	encodeOps(&d, ops)
	d.Span = [2]float64{float64(first) / 1e9, float64(last) / 1e9}
	for _, w := range history.FaultWindows(recs) {
		d.Faults = append(d.Faults, []any{float64(w.Start) / 1e9, float64(w.End) / 1e9, w.Label})
	}
	for _, s := range history.Leaders(recs) {
		d.Leader = append(d.Leader, []any{float64(s.Start) / 1e9, float64(s.End) / 1e9, s.Leader})
	}
	return d
}

// laneKey is a lane: a client's slot and the node it is pinned to.
type laneKey struct {
	slot int
	node string
}

// tlOp is one operation as the timeline draws it.
type tlOp struct {
	lane, outcome, f, key int
	start, end, idx       int64
	label, err            string
}

// laneOps places each operation (history.Pair) in a lane, with the names of
// their operations and keys listed in d; and the history's first and last
// times.
func laneOps(recs []history.Record, clients int, d *timelineData) ([]tlOp, map[laneKey]int, int64, int64) {
	lanes := map[laneKey]int{}
	fs, keys := map[string]int{}, map[string]int{}
	index := func(m map[string]int, list *[]string, s string) int {
		i, ok := m[s]
		if !ok {
			i = len(*list)
			m[s] = i
			*list = append(*list, s)
		}
		return i
	}
	// The final reads (after the end-of-run heal) are read by fresh
	// processes, one per node: lanes of their own.
	finalFrom := int64(math.MaxInt64)
	first, last := int64(math.MaxInt64), int64(0)
	for _, r := range recs {
		first, last = min(first, r.Time), max(last, r.Time)
		if e, ok := history.DecodeEvent(r).(*history.HealEvent); ok && r.Process == history.Nemesis && e.Why == history.EndOfRun {
			finalFrom = r.Time
		}
	}
	paired, _ := history.Pair(recs) // the timeline draws what pairs
	ops := make([]tlOp, 0, len(paired))
	for _, p := range paired {
		inv := p.Invoke
		slot := int(inv.Process)
		switch {
		case inv.Time > finalFrom:
			slot = finalSlot
		case clients > 0:
			slot %= clients
		}
		k := laneKey{slot, inv.Node}
		l, ok := lanes[k]
		if !ok {
			l = len(lanes)
			lanes[k] = l
		}
		o := tlOp{lane: l, f: index(fs, &d.Fs, inv.F), key: index(keys, &d.Keys, inv.Key), start: inv.Time, idx: inv.Index}
		switch done := p.Done; {
		case done == nil: // the run stopped: drawn to the end
			o.end, o.outcome, o.err, o.label = last, 2, "never completed", opLabel(*inv, history.Record{})
		default:
			o.end, o.label = done.Time, opLabel(*inv, *done)
			switch done.Type {
			case history.OK:
			case history.Fail:
				o.outcome, o.err = 1, done.Error
			default:
				o.outcome, o.err = 2, done.Error
			}
		}
		if len(o.err) > 120 {
			o.err = o.err[:117] + "..."
		}
		ops = append(ops, o)
	}
	if first == math.MaxInt64 {
		first = 0
	}
	slices.SortStableFunc(ops, func(a, b tlOp) int { return int(a.start - b.start) })
	return ops, lanes, first, last
}

// nameLanes orders the lanes by client, then node, names them in d and
// renumbers the operations' lanes to match.
func nameLanes(d *timelineData, lanes map[laneKey]int, ops []tlOp, clients int) {
	order := slices.SortedFunc(maps.Keys(lanes), func(a, b laneKey) int {
		return cmp.Or(cmp.Compare(a.slot, b.slot), cmp.Compare(a.node, b.node))
	})
	renumber := make([]int, len(lanes))
	for i, k := range order {
		renumber[lanes[k]] = i
		name := fmt.Sprintf("client %d", k.slot)
		switch {
		case k.slot == finalSlot:
			name = "final reads"
		case clients == 0:
			name = fmt.Sprintf("process %d", k.slot)
		}
		if k.node != "" {
			name += " · " + k.node
		}
		d.Lanes = append(d.Lanes, name)
	}
	for i := range ops {
		ops[i].lane = renumber[ops[i].lane]
	}
}

// encodeOps writes the operations into d, delta-encoded, and where each
// page begins.
func encodeOps(d *timelineData, ops []tlOp) {
	var prevStart, prevIdx int64
	for i, o := range ops {
		if i%pageOps == 0 {
			d.Pages = append(d.Pages, i)
		}
		start, dur := o.start/unitNs, (o.end-o.start+unitNs-1)/unitNs
		d.MaxDur = max(d.MaxDur, float64(dur))
		row := []any{o.lane, start - prevStart, dur, o.outcome, o.f, o.key, o.label, o.idx - prevIdx}
		if o.err != "" {
			row = append(row, o.err)
		}
		d.Ops = append(d.Ops, row)
		prevStart, prevIdx = start, o.idx
	}
}

// finalSlot is the lanes' slot of the final reads: after every client.
const finalSlot = math.MaxInt32

// opLabel writes what an operation did in a few characters: its invoked
// value and what it returned ("17", "→ 17", "[3,4] → ok").
func opLabel(inv, done history.Record) string {
	in, out := string(inv.Value), string(done.Value)
	if in == "null" {
		in = "" // a read's invocation
	}
	s := in
	switch {
	case out != "" && out != in && in != "":
		s = in + " → " + out
	case out != "" && out != in:
		s = "→ " + out
	}
	if len(s) > maxLabel {
		s = s[:maxLabel-3] + "..."
	}
	return s
}

// writeTimeline writes the per-process timeline of a run next to its report.
func writeTimeline(path string, in Input) error {
	d := timelineOf(in.Records, in.Clients)
	js, err := json.Marshal(d)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	err = timelinePage.Execute(&b, struct {
		Input
		Ops, Pages, PageOps int
		Generated           string
		Data                template.JS
	}{in, len(d.Ops), len(d.Pages), pageOps, time.Now().UTC().Format(time.RFC3339), template.JS(js)})
	if err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

var timelinePage = template.Must(template.New("timeline").Funcs(template.FuncMap{
	"plural": plural,
}).Parse(strings.TrimSpace(timelineHTML)))

// plural writes "1 operation", "2 operations".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
