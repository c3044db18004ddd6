package main

// CI sharding: faultline run -shard K/N [-seeds LIST] splits a job's
// scenarios × seeds across the N jobs of a CI matrix, and faultline merge
// combines their stores into one JUnit file, one summary and one index
// page.

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/report"
	"github.com/faultline/faultline/scenarios"
)

// manifestFile is what a sharded job writes into its store: the whole
// job's items, which of them this shard ran, and where each run is.
const manifestFile = "faultline-shard.json"

// shardSpec is K/N: this job runs items K-1, K-1+N, K-1+2N, ...
type shardSpec struct {
	K int `json:"k"`
	N int `json:"n"`
}

func (s shardSpec) String() string { return fmt.Sprintf("%d/%d", s.K, s.N) }

// parseShard reads -shard K/N.
func parseShard(v string) (shardSpec, error) {
	k, n, ok := strings.Cut(v, "/")
	ki, kerr := strconv.Atoi(k)
	ni, nerr := strconv.Atoi(n)
	if !ok || kerr != nil || nerr != nil {
		return shardSpec{}, fmt.Errorf("%w: -shard %q: want K/N, this job's number and the number of jobs, for example 2/4", scenarios.ErrInvalid, v)
	}
	if ni < 1 || ki < 1 || ki > ni {
		return shardSpec{}, fmt.Errorf("%w: -shard %s: K must be from 1 to N (%d jobs), as a CI matrix numbers its jobs", scenarios.ErrInvalid, v, max(ni, 0))
	}
	return shardSpec{K: ki, N: ni}, nil
}

// parseSeeds reads -seeds: numbers and ranges, "1,2,7" or "1-5".
func parseSeeds(v string) ([]int64, error) {
	var out []int64
	for _, part := range strings.Split(v, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.ParseInt(lo, 10, 64)
		b := a
		if err == nil && isRange {
			b, err = strconv.ParseInt(hi, 10, 64)
		}
		if err != nil || a < 1 || b < a || b-a >= 10000 {
			return nil, fmt.Errorf("%w: -seeds %q: want positive seeds and ranges, for example 1-5 or 3,8,13", scenarios.ErrInvalid, v)
		}
		for s := a; s <= b; s++ {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// item is one run of a job: a scenario file under a seed (0: its own).
type item struct {
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
	Seed   int64  `json:"seed,omitempty"`
}

// name is the item's test case name: the scenario's, and the seed when the
// job runs several.
func (it item) name(scenario string) string {
	if it.Seed == 0 {
		return scenario
	}
	return fmt.Sprintf("%s (seed %d)", scenario, it.Seed)
}

// shardRun is one item a shard ran: where its run folder is (relative to
// the store), or why it could not start.
type shardRun struct {
	Item  int    `json:"item"`
	Name  string `json:"name"`
	Dir   string `json:"dir,omitempty"`
	Error string `json:"error,omitempty"`
}

// manifest is a sharded job's record of itself.
type manifest struct {
	Version string     `json:"faultline_version"`
	Shard   shardSpec  `json:"shard"`
	Items   []item     `json:"items"`
	Runs    []shardRun `json:"runs"`
}

// jobItems lists the job's items in a fixed order, every shard the same:
// the files as given (folders sorted), each under every seed.
func jobItems(files []string, seeds []int64) ([]item, error) {
	var items []item
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		h := sha256.Sum256(b)
		if len(seeds) == 0 {
			items = append(items, item{File: filepath.ToSlash(f), SHA256: hex.EncodeToString(h[:])})
		}
		for _, s := range seeds {
			items = append(items, item{File: filepath.ToSlash(f), SHA256: hex.EncodeToString(h[:]), Seed: s})
		}
	}
	return items, nil
}

// mine says whether item i is this shard's (no shard: every item).
func (s shardSpec) mine(i int) bool { return s.N == 0 || i%s.N == s.K-1 }

func writeManifest(store string, m manifest) error {
	if err := os.MkdirAll(store, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(store, manifestFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(store, manifestFile))
}

func readManifest(store string) (manifest, error) {
	var m manifest
	b, err := os.ReadFile(filepath.Join(store, manifestFile))
	if errors.Is(err, os.ErrNotExist) {
		return m, fmt.Errorf("%s: no %s: not the store of a `faultline run -shard K/N` job (or the job was killed before it began)", store, manifestFile)
	}
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%s: %s does not parse: %w", store, manifestFile, err)
	}
	if m.Shard.N < 1 || m.Shard.K < 1 || m.Shard.K > m.Shard.N {
		return m, fmt.Errorf("%s: %s names shard %s, which is no shard", store, manifestFile, m.Shard)
	}
	return m, nil
}

// mergeCmd combines the stores of a sharded job: faultline merge [-junit
// F] [-summary F] [-index F] STORE...
func mergeCmd(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	junit := fs.String("junit", "", "write the whole job's JUnit XML here")
	summary := fs.String("summary", "", "write the whole job's Markdown summary here")
	index := fs.String("index", "faultline-index.html", "write an index page of every run here (links are relative to it)")
	if err := parseFlags(fs, args); err != nil {
		return exitError
	}
	if fs.NArg() == 0 {
		return fail(stderr, errors.New("merge needs the stores of a sharded job, for example: faultline merge store-1 store-2 store-3"))
	}
	outs, rows, err := merge(fs.Args())
	if outs == nil {
		return fail(stderr, err)
	}
	if werr := writeReports(*junit, *summary, outs); werr != nil {
		return fail(stderr, werr)
	}
	if werr := writeIndex(*index, rows); werr != nil {
		return fail(stderr, werr)
	}
	for _, r := range rows {
		fmt.Fprintf(stdout, "  %-40s %-8s %s\n", r.Name, r.Shard, r.Verdict)
	}
	fmt.Fprintf(stdout, "merged %s of %s: index %s\n", plural(len(rows), "run"), plural(len(fs.Args()), "store"), *index)
	if err != nil {
		return fail(stderr, err)
	}
	return worst(outs)
}

// indexRow is one run on the index page.
type indexRow struct {
	Name, Shard, Verdict, Expected, Report, Dir string
	Bad                                         bool
}

// merge reads the stores' manifests, checks that they are the shards of
// one job, and rebuilds the outcome of every item from its run's
// results.json. Items no store ran are outcomes with an error, and merge's
// error names the missing shards; with stores that are not of one job it
// returns no outcomes.
func merge(stores []string) ([]outcome, []indexRow, error) {
	var first manifest
	byShard := map[int]string{}
	var ms []manifest
	for i, store := range stores {
		m, err := readManifest(store)
		if err != nil {
			return nil, nil, err
		}
		if i == 0 {
			first = m
		}
		switch {
		case m.Version != first.Version:
			return nil, nil, fmt.Errorf("%s was written by faultline %s, %s by faultline %s: merge the stores of one job, run by one build", store, m.Version, stores[0], first.Version)
		case m.Shard.N != first.Shard.N:
			return nil, nil, fmt.Errorf("%s is shard %s, %s shard %s: merge the stores of one job", store, m.Shard, stores[0], first.Shard)
		case !slices.Equal(m.Items, first.Items):
			return nil, nil, fmt.Errorf("%s ran another job than %s: %s", store, stores[0], firstDifference(first.Items, m.Items))
		}
		if other, ok := byShard[m.Shard.K]; ok {
			return nil, nil, fmt.Errorf("%s and %s are both shard %s", other, store, m.Shard)
		}
		byShard[m.Shard.K] = store
		ms = append(ms, m)
	}
	ran := map[int]outcome{}
	rows := map[int]indexRow{}
	for i, m := range ms {
		store := stores[i]
		for _, r := range m.Runs {
			o := outcome{name: r.Name}
			row := indexRow{Name: r.Name, Shard: m.Shard.String()}
			switch {
			case r.Error != "":
				o.err = errors.New(r.Error)
			default:
				dir := filepath.Join(store, r.Dir)
				rep, err := readReport(dir)
				if err != nil {
					o.err = err
					break
				}
				rep.StoreDir = dir
				o.rep = rep
				if rep.Error != "" {
					o.err = errors.New(rep.Error)
				}
				row.Dir = dir
				if _, err := os.Stat(filepath.Join(dir, report.File)); err == nil {
					row.Report = filepath.Join(dir, report.File)
				}
			}
			row.Verdict, row.Expected, row.Bad = verdictWords(o)
			ran[r.Item], rows[r.Item] = o, row
		}
	}
	var outs []outcome
	var out []indexRow
	var missing []string
	for i, it := range first.Items {
		o, ok := ran[i]
		if !ok {
			shard := shardSpec{K: i%first.Shard.N + 1, N: first.Shard.N}
			name := it.name(strings.TrimSuffix(filepath.Base(it.File), filepath.Ext(it.File)))
			o = outcome{name: name, err: fmt.Errorf("not run: shard %s, which holds it, is not among the stores merged", shard)}
			if !slices.Contains(missing, shard.String()) {
				missing = append(missing, shard.String())
			}
			rows[i] = indexRow{Name: name, Shard: shard.String(), Verdict: "NOT RUN", Bad: true}
		}
		outs = append(outs, o)
		out = append(out, rows[i])
	}
	if len(missing) > 0 {
		return outs, out, fmt.Errorf("shard %s missing: give every shard's store (%d of %d given)", strings.Join(missing, ", "), len(stores), first.Shard.N)
	}
	return outs, out, nil
}

// firstDifference says where two jobs' item lists part.
func firstDifference(a, b []item) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			if a[i].File != b[i].File || a[i].Seed != b[i].Seed {
				return fmt.Sprintf("its run %d is %s (seed %d), the other's %s (seed %d)", i+1, b[i].File, b[i].Seed, a[i].File, a[i].Seed)
			}
			return fmt.Sprintf("its %s differs from the other's (another checkout?)", b[i].File)
		}
	}
	return fmt.Sprintf("it has %s, the other %d", plural(len(b), "run"), len(a))
}

func readReport(dir string) (harness.Report, error) {
	var rep harness.Report
	b, err := os.ReadFile(filepath.Join(dir, harness.ResultsFile))
	if err != nil {
		return rep, fmt.Errorf("%s: %w (the run did not finish writing its results)", dir, err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return rep, fmt.Errorf("%s: %s does not parse: %w", dir, harness.ResultsFile, err)
	}
	return rep, nil
}

// verdictWords is how the index page says an outcome.
func verdictWords(o outcome) (verdict, expected string, bad bool) {
	verdict = strings.ToUpper(string(o.rep.Verdict))
	if j := o.rep.Expectation; j != nil {
		expected = j.Expected.String()
		if !j.Met {
			expected += " (not met)"
		}
	}
	if o.err != nil {
		verdict = "COULD NOT RUN"
	}
	return cmp.Or(verdict, "NOT CHECKED"), expected, o.code() != exitValid
}

// writeIndex writes the index page of a merged job: every run, its shard,
// verdict and expectation, linked to its report.
func writeIndex(path string, rows []indexRow) error {
	base, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return err
	}
	rel := func(p string) string {
		if p == "" {
			return ""
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return p
		}
		if r, err := filepath.Rel(base, abs); err == nil {
			return filepath.ToSlash(r)
		}
		return filepath.ToSlash(abs)
	}
	bad := 0
	for i := range rows {
		rows[i].Report, rows[i].Dir = rel(rows[i].Report), rel(rows[i].Dir)
		if rows[i].Bad {
			bad++
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = indexPage.Execute(f, struct {
		Rows []indexRow
		Bad  int
	}{rows, bad})
	return errors.Join(err, f.Close())
}

var indexPage = template.Must(template.New("index").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>faultline: {{len .Rows}} runs, {{.Bad}} not as expected</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; padding: 0 1em; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: .2em .6em; text-align: left; }
th { background: #f5f5f5; } .bad { color: #d62728; font-weight: bold; }
</style></head><body>
<h1>faultline: {{len .Rows}} runs, {{.Bad}} not as expected</h1>
<table><tr><th>run</th><th>shard</th><th>verdict</th><th>expected</th><th>report</th></tr>
{{range .Rows}}<tr><td>{{.Name}}</td><td>{{.Shard}}</td><td{{if .Bad}} class="bad"{{end}}>{{.Verdict}}</td><td>{{.Expected}}</td><td>{{if .Report}}<a href="{{.Report}}">report</a>{{else if .Dir}}<a href="{{.Dir}}">folder</a>{{end}}</td></tr>
{{end}}</table>
</body></html>
`))
