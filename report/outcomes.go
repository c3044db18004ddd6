package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/faultline/faultline/history"
)

// outcomeRow counts how one operation ended on one node, and why those
// that did not succeed failed.
type outcomeRow struct {
	F, Node        string
	OK, Fail, Info int
	// Why lists error classes with their counts, most first: "timeout 21".
	Why string
}

// outcomeTable splits the completions by operation and node, with the error
// classes of those that failed or ended unknown: what a reader asks first
// of a run with failures.
func outcomeTable(recs []history.Record) []outcomeRow {
	type key struct{ f, node string }
	rows := map[key]*outcomeRow{}
	why := map[key]map[string]int{}
	for _, r := range recs {
		if r.Process == history.Nemesis || r.Type == history.Invoke {
			continue
		}
		k := key{r.F, r.Node}
		row := rows[k]
		if row == nil {
			row = &outcomeRow{F: r.F, Node: r.Node}
			rows[k] = row
			why[k] = map[string]int{}
		}
		switch r.Type {
		case history.OK:
			row.OK++
			continue
		case history.Fail:
			row.Fail++
		case history.Info:
			row.Info++
		}
		why[k][errorClass(r)]++
	}
	var out []outcomeRow
	for k, row := range rows {
		type c struct {
			class string
			n     int
		}
		var cs []c
		for class, n := range why[k] {
			cs = append(cs, c{class, n})
		}
		slices.SortFunc(cs, func(a, b c) int { return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.class, b.class)) })
		var parts []string
		for _, x := range cs {
			parts = append(parts, fmt.Sprintf("%s %d", x.class, x.n))
		}
		row.Why = strings.Join(parts, ", ")
		out = append(out, *row)
	}
	slices.SortFunc(out, func(a, b outcomeRow) int { return cmp.Or(cmp.Compare(a.F, b.F), cmp.Compare(a.Node, b.Node)) })
	return out
}

// errorClass names why an operation did not succeed, in a few words.
func errorClass(r history.Record) string {
	e := strings.ToLower(r.Error)
	switch {
	case e == "" && r.F == "cas" && r.Type == history.Fail:
		return "compare failed"
	case e == "":
		return "no error given"
	case strings.Contains(e, "deadline exceeded") || strings.Contains(e, "timeout") || strings.Contains(e, "timed out") || strings.Contains(e, "within the operation timeout"):
		return "timeout"
	case strings.Contains(e, "connection refused"):
		return "connection refused"
	case strings.Contains(e, "connection reset") || strings.Contains(e, "broken pipe") || strings.Contains(e, "eof"):
		return "connection lost"
	case strings.Contains(e, "no leader") || strings.Contains(e, "leader"):
		return "no leader"
	case strings.Contains(e, "canceled") || strings.Contains(e, "cancelled"):
		return "cancelled"
	}
	if len(e) > 40 {
		e = e[:40] + "…"
	}
	return e
}
