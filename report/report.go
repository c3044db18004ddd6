// Package report writes report.html: one self-contained page per run that
// a person reads in a minute and that works offline. It shows the verdict,
// the scenario and seed, the fault timeline as a Gantt chart, the latency
// of every operation and the throughput per second with the fault windows
// shaded, per-key results with their explanations and visualizations, the
// connectivity the probes observed, and links to the node logs.
//
// Data enters as records (paired by history.Pair) and the checker's
// result; charts are drawn as SVG with gonum.org/v1/plot and inlined, so
// the file needs nothing else. timeline.html (timeline.go) draws every
// operation in a lane per client.
package report

import (
	"bytes"
	"cmp"
	"fmt"
	"html/template"
	"image/color"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
)

// File is the report's name in a run's store folder.
const File = "report.html"

// Input is what a report shows.
type Input struct {
	Scenario    string
	Description string
	// System says what ran: the system's name, where its definition is,
	// and its nodes ("redis-sentinel from mytest/system.yaml: n1, n2, n3").
	System string
	// Placement says how the run reached its nodes: faults directly or
	// through helpers, clients on the host or in the run's network.
	Placement string
	Seed      int64
	RunID     string
	// ScenarioYAML is the scenario as run.
	ScenarioYAML []byte
	// Result is the checker's result; Verdict "" when the run stopped before
	// checking.
	Result checker.Result
	// Expectation is what the scenario expected and whether the result
	// met it (nil when the run stopped before checking).
	Expectation *checker.Judgement
	// Error is why the run stopped, if it did.
	Error   string
	Records []history.Record
	// Dir is the run's store folder: node and client logs are linked from it.
	Dir string
	// Clients is the workload's number of logical clients: the timeline
	// keeps each in one lane (0: a lane per process).
	Clients int
}

// fault is a window during which a fault was in force.
type fault struct {
	Label string
	// Start and End are when the fault and its heal were applied;
	// Confirmed and HealConfirmed when their probes confirmed them (0 when
	// the history records no later time).
	Start, End               float64 // seconds
	Confirmed, HealConfirmed float64
	Observed                 map[string]map[string][]string
	// Healed says what the probes saw once the fault was healed.
	Healed string
	// Leader is who the system said led when the fault began ("" when
	// it could not say, or was not asked).
	Leader string
}

// op is one completed operation.
type op struct {
	at, latency float64 // seconds, milliseconds
	typ         history.Type
	f           string
}

func analyse(recs []history.Record) ([]op, []fault, float64, []string) {
	leaders := history.Leaders(recs)
	var ops []op
	var nodes []string
	end := float64(history.End(recs)) / 1e9
	for _, r := range recs {
		if r.Process != history.Nemesis && r.Node != "" && !slices.Contains(nodes, r.Node) {
			nodes = append(nodes, r.Node)
		}
	}
	paired, _ := history.Pair(recs) // a report draws what pairs
	// In order of completion, as they happened.
	paired = slices.DeleteFunc(paired, func(p history.Op) bool { return p.Done == nil })
	slices.SortFunc(paired, func(a, b history.Op) int { return cmp.Compare(a.Done.Index, b.Done.Index) })
	for _, p := range paired {
		ops = append(ops, op{at: float64(p.Invoke.Time) / 1e9, latency: float64(p.Done.Time-p.Invoke.Time) / 1e6, typ: p.Done.Type, f: p.Invoke.F})
	}
	var faults []fault
	for _, w := range history.FaultWindows(recs) {
		f := fault{Label: w.Label, Start: float64(w.Start) / 1e9, End: float64(w.End) / 1e9, Observed: w.Observed, Leader: history.LeaderAt(leaders, w.Start)}
		if w.Confirmed > w.Start {
			f.Confirmed = float64(w.Confirmed) / 1e9
		}
		if w.HealConfirmed > 0 {
			f.Healed = healVerified(w.Healed, nodes)
			if w.HealConfirmed > w.End {
				f.HealConfirmed = float64(w.HealConfirmed) / 1e9
			}
		}
		faults = append(faults, f)
	}
	slices.Sort(nodes)
	return ops, faults, end, nodes
}

var (
	colOK    = color.RGBA{R: 0x2e, G: 0x8b, B: 0x57, A: 0xff}
	colFail  = color.RGBA{R: 0xe6, G: 0x9f, B: 0x00, A: 0xff}
	colInfo  = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	colFault = color.NRGBA{R: 0xf4, G: 0x9a, B: 0x9a, A: 0x55} // not premultiplied: alpha applies
)

// healVerified says what the probes saw after a heal: every node reaching
// every other, or which pairs did not.
func healVerified(obs history.Observation, nodes []string) string {
	if len(obs) == 0 {
		return "not probed"
	}
	var missing []string
	for _, probe := range slices.Sorted(maps.Keys(obs)) {
		for _, a := range nodes {
			for _, b := range nodes {
				if a != b && !slices.Contains(obs[probe][a], b) {
					missing = append(missing, fmt.Sprintf("%s %s→%s", probe, a, b))
				}
			}
		}
	}
	if len(missing) == 0 {
		return "verified: every node reached every other"
	}
	if len(missing) > 4 {
		missing = append(missing[:4], "...")
	}
	return "NOT verified: no probe " + strings.Join(missing, ", ")
}

// shade draws the fault windows as bands from ymin to ymax.
func shade(p *plot.Plot, faults []fault, ymin, ymax float64) {
	for _, f := range faults {
		poly, err := plotter.NewPolygon(plotter.XYs{{X: f.Start, Y: ymin}, {X: f.End, Y: ymin}, {X: f.End, Y: ymax}, {X: f.Start, Y: ymax}})
		if err != nil {
			continue
		}
		poly.Color = colFault
		poly.LineStyle.Width = 0
		p.Add(poly)
	}
}

// outcomes are the series both charts draw, one per completion type.
var outcomes = []struct {
	typ   history.Type
	col   color.Color
	label string
}{{history.OK, colOK, "ok"}, {history.Fail, colFail, "fail"}, {history.Info, colInfo, "info (unknown)"}}

// maxPoints bounds the points of each outcome in the latency chart.
const maxPoints = 15000

// ordinal writes 2nd, 3rd, 29th.
func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return strconv.Itoa(n) + suffix
}

func latencyChart(ops []op, faults []fault, end float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Latency of every operation"
	p.X.Label.Text = "seconds since the workload started"
	p.Y.Label.Text = "latency (ms, log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	maxLat := 1.0
	for _, o := range ops {
		maxLat = math.Max(maxLat, o.latency)
	}
	lo, hi := 0.01, maxLat*2
	shade(p, faults, lo, hi)
	for _, t := range outcomes {
		var xys plotter.XYs
		for _, o := range ops {
			if o.typ == t.typ {
				xys = append(xys, plotter.XY{X: o.at, Y: math.Max(o.latency, lo)})
			}
		}
		if len(xys) == 0 {
			continue
		}
		label := fmt.Sprintf("%s (%d)", t.label, len(xys))
		if every := (len(xys) + maxPoints - 1) / maxPoints; every > 1 {
			// A point per operation would make the page tens of
			// megabytes past a few minutes: every n-th is drawn, and
			// the legend says so (the quantiles below use them all).
			thin := make(plotter.XYs, 0, maxPoints)
			for i := 0; i < len(xys); i += every {
				thin = append(thin, xys[i])
			}
			label = fmt.Sprintf("%s (%d; every %s shown)", t.label, len(xys), ordinal(every))
			xys = thin
		}
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, err
		}
		s.GlyphStyle.Color = t.col
		s.GlyphStyle.Radius = vg.Points(1.2)
		s.GlyphStyle.Shape = draw.CircleGlyph{}
		p.Add(s)
		p.Legend.Add(label, s)
	}
	p.Legend.Top = true
	p.X.Min, p.X.Max = 0, math.Max(end, 1)
	// A log axis needs a positive range even with no operation to show.
	p.Y.Min, p.Y.Max = lo, hi
	return p, nil
}

func throughputChart(ops []op, faults []fault, end float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Operations completed per second"
	p.X.Label.Text = "seconds since the workload started"
	p.Y.Label.Text = "operations / s"
	n := int(math.Ceil(end)) + 1
	counts := map[history.Type][]float64{history.OK: make([]float64, n), history.Fail: make([]float64, n), history.Info: make([]float64, n)}
	peak := 1.0
	for _, o := range ops {
		sec := int(o.at + o.latency/1000)
		if sec >= 0 && sec < n {
			counts[o.typ][sec]++
			peak = math.Max(peak, counts[o.typ][sec])
		}
	}
	shade(p, faults, 0, peak*1.1)
	for _, t := range outcomes {
		xys := make(plotter.XYs, n)
		for i := range xys {
			xys[i] = plotter.XY{X: float64(i), Y: counts[t.typ][i]}
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, err
		}
		l.Color = t.col
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(t.label, l)
	}
	p.Legend.Top = true
	p.X.Min, p.X.Max = 0, math.Max(end, 1)
	p.Y.Min = 0
	return p, nil
}

// quantileChart draws, per second, the p50, p95 and p99 latency of the
// operations that succeeded (Jepsen's latency-quantiles graph).
func quantileChart(ops []op, faults []fault, end float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Latency quantiles of successful operations, per second"
	p.X.Label.Text = "seconds since the workload started"
	p.Y.Label.Text = "latency (ms, log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	n := int(math.Ceil(end)) + 1
	buckets := make([][]float64, n)
	hi := 1.0
	for _, o := range ops {
		if sec := int(o.at); o.typ == history.OK && sec >= 0 && sec < n {
			buckets[sec] = append(buckets[sec], math.Max(o.latency, 0.01))
			hi = math.Max(hi, o.latency)
		}
	}
	shade(p, faults, 0.01, hi*2)
	for i, q := range []struct {
		label string
		q     float64
	}{{"p50", 0.5}, {"p95", 0.95}, {"p99", 0.99}} {
		var xys plotter.XYs
		for sec, b := range buckets {
			if len(b) == 0 {
				continue
			}
			slices.Sort(b)
			xys = append(xys, plotter.XY{X: float64(sec) + 0.5, Y: b[int(q.q*float64(len(b)-1))]})
		}
		if len(xys) == 0 {
			continue
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, err
		}
		l.Color = []color.Color{colOK, colFail, colInfo}[i]
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(q.label, l)
	}
	p.Legend.Top = true
	p.X.Min, p.X.Max = 0, math.Max(end, 1)
	p.Y.Min, p.Y.Max = 0.01, hi*2
	return p, nil
}

// opRateChart draws successful operations per second, one line per kind
// of operation (Jepsen's rate graph).
func opRateChart(ops []op, faults []fault, end float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Successful operations per second, by operation"
	p.X.Label.Text = "seconds since the workload started"
	p.Y.Label.Text = "operations / s"
	n := int(math.Ceil(end)) + 1
	counts := map[string][]float64{}
	var fs []string
	peak := 1.0
	for _, o := range ops {
		if o.typ != history.OK {
			continue
		}
		if counts[o.f] == nil {
			counts[o.f] = make([]float64, n)
			fs = append(fs, o.f)
		}
		if sec := int(o.at + o.latency/1000); sec >= 0 && sec < n {
			counts[o.f][sec]++
			peak = math.Max(peak, counts[o.f][sec])
		}
	}
	slices.Sort(fs)
	shade(p, faults, 0, peak*1.1)
	palette := []color.Color{colOK, color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, colFail, color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, colInfo}
	for i, f := range fs {
		xys := make(plotter.XYs, n)
		for s := range xys {
			xys[s] = plotter.XY{X: float64(s), Y: counts[f][s]}
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, err
		}
		l.Color = palette[i%len(palette)]
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(f, l)
	}
	p.Legend.Top = true
	p.X.Min, p.X.Max = 0, math.Max(end, 1)
	p.Y.Min = 0
	return p, nil
}

// aligned draws plots one above the other on one time axis: the data
// areas share their left and right edges, so a moment is at the same
// place in every chart.
func aligned(plots []*plot.Plot, height vg.Length) (template.HTML, error) {
	if len(plots) == 0 {
		return "", nil
	}
	w, h := 24*vg.Centimeter, height*vg.Length(len(plots))
	c := vgsvg.New(w, h)
	dc := draw.New(c)
	rows := make([][]*plot.Plot, len(plots))
	for i, p := range plots {
		rows[i] = []*plot.Plot{p}
	}
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadY: vg.Centimeter / 2, PadTop: vg.Centimeter / 4, PadBottom: vg.Centimeter / 4}
	canvases := plot.Align(rows, tiles, dc)
	for i, p := range plots {
		p.Draw(canvases[i][0])
	}
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return "", err
	}
	s := b.String()
	if i := strings.Index(s, "<svg"); i > 0 {
		s = s[i:]
	}
	return template.HTML(s), nil
}

// ganttChart draws one lane per distinct fault, a bar per time it was in force.
func ganttChart(faults []fault, end float64) (*plot.Plot, error) {
	if len(faults) == 0 {
		return nil, nil
	}
	var lanes []string
	for _, f := range faults {
		if !slices.Contains(lanes, f.Label) {
			lanes = append(lanes, f.Label)
		}
	}
	const maxLanes = 20
	if len(lanes) > maxLanes {
		lanes = lanes[:maxLanes]
	}
	p := plot.New()
	p.Title.Text = "Fault timeline"
	p.X.Label.Text = "seconds since the workload started"
	for _, f := range faults {
		i := slices.Index(lanes, f.Label)
		if i < 0 {
			continue
		}
		y := float64(len(lanes) - 1 - i)
		poly, err := plotter.NewPolygon(plotter.XYs{{X: f.Start, Y: y - 0.35}, {X: f.End, Y: y - 0.35}, {X: f.End, Y: y + 0.35}, {X: f.Start, Y: y + 0.35}})
		if err != nil {
			return nil, err
		}
		poly.Color = colInfo
		poly.LineStyle.Width = 0
		p.Add(poly)
	}
	names := make([]string, len(lanes))
	for i, l := range lanes {
		if len(l) > 60 {
			l = l[:57] + "..."
		}
		names[len(lanes)-1-i] = l
	}
	p.NominalY(names...)
	p.X.Min, p.X.Max = 0, math.Max(end, 1)
	return p, nil
}

// leaderChart draws who the system said led, a lane per node that ever
// led (and one for the stretches when none was named); nil when the
// history holds no leader events.
func leaderChart(spans []history.LeaderSpan, faults []fault, end float64) (*plot.Plot, error) {
	if len(spans) == 0 {
		return nil, nil
	}
	var lanes []string
	for _, s := range spans {
		name := cmp.Or(s.Leader, "none named")
		if !slices.Contains(lanes, name) {
			lanes = append(lanes, name)
		}
	}
	slices.Sort(lanes)
	p := plot.New()
	p.Title.Text = "Leader, as the system said (asked every second)"
	p.X.Label.Text = "seconds since the workload started"
	shade(p, faults, -0.5, float64(len(lanes))-0.5)
	for _, s := range spans {
		y := float64(slices.Index(lanes, cmp.Or(s.Leader, "none named")))
		start, end := float64(s.Start)/1e9, float64(s.End)/1e9
		poly, err := plotter.NewPolygon(plotter.XYs{{X: start, Y: y - 0.3}, {X: end, Y: y - 0.3}, {X: end, Y: y + 0.3}, {X: start, Y: y + 0.3}})
		if err != nil {
			return nil, err
		}
		poly.Color = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
		if s.Leader == "" {
			poly.Color = color.RGBA{R: 0xaa, G: 0xaa, B: 0xaa, A: 0xff}
		}
		poly.LineStyle.Width = 0
		p.Add(poly)
	}
	p.NominalY(lanes...)
	p.X.Min, p.X.Max = 0, math.Max(end, 1)
	return p, nil
}

type matrix struct {
	Label  string
	At     float64
	Probes []probeTable
}

type probeTable struct {
	Probe string
	Nodes []string
	Rows  [][]string // "✓" reached, "✗" not
}

// matrices tabulates what the probes saw for each fault, over every node
// the history names (a node nobody reached is still a row and a column).
func matrices(faults []fault, all []string) []matrix {
	var out []matrix
	for _, f := range faults {
		if len(f.Observed) == 0 {
			continue
		}
		m := matrix{Label: f.Label, At: f.Start}
		probes := make([]string, 0, len(f.Observed))
		for p := range f.Observed {
			probes = append(probes, p)
		}
		sort.Strings(probes)
		for _, pr := range probes {
			obs := f.Observed[pr]
			nodes := slices.Clone(all)
			for a, bs := range obs {
				nodes = append(nodes, a)
				nodes = append(nodes, bs...)
			}
			slices.Sort(nodes)
			nodes = slices.Compact(nodes)
			t := probeTable{Probe: pr, Nodes: nodes}
			for _, a := range nodes {
				row := []string{a}
				for _, b := range nodes {
					switch {
					case a == b:
						row = append(row, "·")
					case slices.Contains(obs[a], b):
						row = append(row, "✓")
					default:
						row = append(row, "✗")
					}
				}
				t.Rows = append(t.Rows, row)
			}
			m.Probes = append(m.Probes, t)
		}
		out = append(out, m)
		if len(out) == 12 {
			break
		}
	}
	return out
}

// Write renders the report into path.
func Write(path string, in Input) error {
	ops, faults, end, nodes := analyse(in.Records)
	data := struct {
		Input
		Generated string
		Verdict   string
		Gantt     bool
		Charts    template.HTML
		Faults    []fault
		Matrices  []matrix
		Logs      []string
		Outcomes  []outcomeRow
		Leaders   bool
		Timeline  string
	}{Outcomes: outcomeTable(in.Records), Input: in, Generated: time.Now().UTC().Format(time.RFC3339), Verdict: strings.ToUpper(string(in.Result.Verdict)), Faults: faults, Matrices: matrices(faults, nodes)}
	if data.Verdict == "" {
		data.Verdict = "NOT CHECKED"
	}
	var plots []*plot.Plot
	gantt, err := ganttChart(faults, end)
	if err != nil {
		return fmt.Errorf("fault timeline: %w", err)
	}
	if gantt != nil {
		plots = append(plots, gantt)
	}
	leaders, err := leaderChart(history.Leaders(in.Records), faults, end)
	if err != nil {
		return fmt.Errorf("leader chart: %w", err)
	}
	if leaders != nil {
		plots = append(plots, leaders)
	}
	data.Leaders = leaders != nil
	if len(ops) > 0 {
		for _, chart := range []func([]op, []fault, float64) (*plot.Plot, error){latencyChart, quantileChart, throughputChart, opRateChart} {
			p, err := chart(ops, faults, end)
			if err != nil {
				return fmt.Errorf("charts: %w", err)
			}
			plots = append(plots, p)
		}
	}
	if data.Charts, err = aligned(plots, 8*vg.Centimeter); err != nil {
		return fmt.Errorf("charts: %w", err)
	}
	data.Gantt = gantt != nil
	for _, pattern := range []string{"nodes/*.log", "clients/*.log"} {
		m, _ := filepath.Glob(filepath.Join(in.Dir, pattern))
		for _, f := range m {
			rel, _ := filepath.Rel(in.Dir, f)
			data.Logs = append(data.Logs, rel)
		}
	}
	// The per-process timeline goes beside the report; a failure to write
	// it is said on the page, and the report is still written.
	tl := filepath.Join(filepath.Dir(path), TimelineFile)
	if terr := writeTimeline(tl, in); terr != nil {
		data.Timeline = terr.Error()
	}
	var b bytes.Buffer
	if err := page.Execute(&b, data); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"lower": func(s string) string { return strings.ToLower(s) },
	"secs":  func(f float64) string { return fmt.Sprintf("%.1f s", f) },
	"ms":    func(v int64) string { return fmt.Sprintf("%.1f s", float64(v)/1000) },
}).Parse(pageHTML))
