package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/internal/testenv"
)

func TestShardAndSeedFlags(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string // "" for an error
	}{{"1/1", "1/1"}, {"2/4", "2/4"}, {"4/4", "4/4"}, {"3/2", ""}, {"0/3", ""}, {"1/0", ""}, {"x", ""}, {"1/2/3", ""}} {
		s, err := parseShard(c.in)
		if c.want == "" && err == nil || c.want != "" && (err != nil || s.String() != c.want) {
			t.Errorf("-shard %s: %v, %v", c.in, s, err)
		}
	}
	if _, err := parseShard("3/2"); err == nil || !strings.Contains(err.Error(), "-shard 3/2: K must be from 1 to N (2 jobs)") {
		t.Errorf("-shard 3/2: %v", err)
	}
	for in, want := range map[string]string{"1-3": "[1 2 3]", "5,2,5": "[5 2]", "7": "[7]", "1-3,9": "[1 2 3 9]", "0": "", "3-1": "", "a": "", "-2": ""} {
		s, err := parseSeeds(in)
		if want == "" && err == nil || want != "" && fmt.Sprint(s) != want {
			t.Errorf("-seeds %s: %v, %v", in, s, err)
		}
	}
}

// Every item of a job lands in exactly one shard, whatever N.
func TestShardsCoverTheJobOnce(t *testing.T) {
	for n := 1; n <= 7; n++ {
		seen := map[int]int{}
		for k := 1; k <= n; k++ {
			for i := range 20 {
				if (shardSpec{K: k, N: n}).mine(i) {
					seen[i]++
				}
			}
		}
		for i := range 20 {
			if seen[i] != 1 {
				t.Errorf("N=%d: item %d in %d shards", n, i, seen[i])
			}
		}
	}
}

// fakeShard writes the store of shard k/n of a job of items, each run with
// the verdict given, as faultline run -shard would.
func fakeShard(t *testing.T, root string, k, n int, items []item, verdict map[int]checker.Verdict, version string) string {
	t.Helper()
	store := filepath.Join(root, fmt.Sprintf("store-%d", k))
	m := manifest{Version: version, Shard: shardSpec{K: k, N: n}, Items: items}
	for i, it := range items {
		if !m.Shard.mine(i) {
			continue
		}
		dir := filepath.Join(store, "s", fmt.Sprintf("run%d", i))
		os.MkdirAll(dir, 0o755)
		rep := harness.Report{Scenario: "s", StoreDir: "elsewhere/" + dir}
		rep.Verdict = verdict[i]
		rep.Expectation = &checker.Judgement{Expected: checker.Expectation{Verdict: checker.Valid}, Met: verdict[i] == checker.Valid}
		b, _ := json.Marshal(rep)
		os.WriteFile(filepath.Join(dir, harness.ResultsFile), b, 0o644)
		m.Runs = append(m.Runs, shardRun{Item: i, Name: it.name("s"), Dir: filepath.Join("s", fmt.Sprintf("run%d", i))})
	}
	if err := writeManifest(store, m); err != nil {
		t.Fatal(err)
	}
	return store
}

func TestMerge(t *testing.T) {
	items := []item{{File: "a.yaml", SHA256: "1", Seed: 1}, {File: "a.yaml", SHA256: "1", Seed: 2}, {File: "b.yaml", SHA256: "2", Seed: 1}, {File: "b.yaml", SHA256: "2", Seed: 2}, {File: "c.yaml", SHA256: "3", Seed: 1}}
	verdicts := map[int]checker.Verdict{0: checker.Valid, 1: checker.Valid, 2: checker.Invalid, 3: checker.Valid, 4: checker.Valid}
	root := t.TempDir()
	s1 := fakeShard(t, root, 1, 2, items, verdicts, "v1")
	s2 := fakeShard(t, root, 2, 2, items, verdicts, "v1")

	t.Run("whole", func(t *testing.T) {
		dir := t.TempDir()
		junit, index := filepath.Join(dir, "junit.xml"), filepath.Join(dir, "index.html")
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"merge", "-junit", junit, "-index", index, s2, s1}, &stdout, &stderr)
		if code != exitInvalid {
			t.Fatalf("exit %d, want 1 (one run invalid)\n%s%s", code, &stdout, &stderr)
		}
		var suites junitSuites
		b, _ := os.ReadFile(junit)
		if err := xml.Unmarshal(b, &suites); err != nil || len(suites.Suites) != 1 {
			t.Fatalf("junit: %v", err)
		}
		s := suites.Suites[0]
		if s.Tests != 5 || s.Failures != 1 || s.Cases[2].Name != "s (seed 1)" || s.Cases[2].Failure == nil || s.Cases[1].Name != "s (seed 2)" {
			t.Errorf("junit in the job's order, one failure: %+v", s)
		}
		page, _ := os.ReadFile(index)
		if !strings.Contains(string(page), `href="../`) || strings.Count(string(page), "<tr>") != 6 {
			t.Errorf("index page:\n%s", page)
		}
	})
	for _, c := range []struct {
		name   string
		stores func() []string
		want   string
	}{
		{"missing shard", func() []string { return []string{s1} }, "shard 2/2 missing"},
		{"same shard twice", func() []string { return []string{s1, s1} }, "are both shard 1/2"},
		{"another build", func() []string {
			return []string{s1, fakeShard(t, t.TempDir(), 2, 2, items, verdicts, "v2")}
		}, "written by faultline v2"},
		{"another job", func() []string {
			other := append([]item{}, items...)
			other[3].SHA256 = "changed"
			return []string{s1, fakeShard(t, t.TempDir(), 2, 2, other, verdicts, "v1")}
		}, "b.yaml differs from the other's"},
		{"not a shard's store", func() []string { return []string{s1, t.TempDir()} }, "faultline-shard.json: not the store of a `faultline run -shard K/N` job"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			dir := t.TempDir()
			code := run(context.Background(), append([]string{"merge", "-junit", filepath.Join(dir, "j.xml"), "-index", filepath.Join(dir, "i.html")}, c.stores()...), &stdout, &stderr)
			if code != exitError || !strings.Contains(stderr.String(), c.want) {
				t.Errorf("exit %d, stderr %q, want 3 and %q", code, &stderr, c.want)
			}
		})
	}
	// A missing shard still yields the JUnit file: its runs as errors.
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	run(context.Background(), []string{"merge", "-junit", filepath.Join(dir, "j.xml"), "-index", filepath.Join(dir, "i.html"), s1}, &stdout, &stderr)
	b, _ := os.ReadFile(filepath.Join(dir, "j.xml"))
	if !strings.Contains(string(b), "not run: shard 2/2, which holds it, is not among the stores merged") {
		t.Errorf("junit of a merge missing a shard:\n%s", b)
	}
}

// TestShardedJob runs a job of one scenario under three seeds as two CI
// jobs would (-shard 1/2 and 2/2), then merges their stores: three runs,
// each once, with the seeds asked for.
func TestShardedJob(t *testing.T) {
	testenv.EndToEnd(t)
	dir := t.TempDir()
	b, err := os.ReadFile("../../scenarios/etcd-register.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte("time_limit: 30s"), []byte("time_limit: 8s"), 1)
	b = bytes.Replace(b, []byte("every: 10s"), []byte("every: 3s"), 1)
	b = bytes.Replace(b, []byte("hold: 5s"), []byte("hold: 2s"), 1)
	scenario := filepath.Join(dir, "short.yaml")
	os.WriteFile(scenario, b, 0o644)
	var stores []string
	for k := 1; k <= 2; k++ {
		store := filepath.Join(dir, fmt.Sprintf("store-%d", k))
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"run", "-store", store, "-seeds", "11-13", "-shard", fmt.Sprintf("%d/2", k), scenario}, &stdout, &stderr)
		if code != exitValid {
			t.Fatalf("shard %d/2: exit %d\n%s\n%s", k, code, &stdout, &stderr)
		}
		stores = append(stores, store)
	}
	junit := filepath.Join(dir, "junit.xml")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), append([]string{"merge", "-junit", junit, "-index", filepath.Join(dir, "index.html")}, stores...), &stdout, &stderr); code != exitValid {
		t.Fatalf("merge: exit %d\n%s\n%s", code, &stdout, &stderr)
	}
	var suites junitSuites
	jb, _ := os.ReadFile(junit)
	if err := xml.Unmarshal(jb, &suites); err != nil || len(suites.Suites) != 1 || suites.Suites[0].Tests != 3 {
		t.Fatalf("merged junit (%v):\n%s", err, jb)
	}
	seeds := map[int64]bool{}
	for k, store := range stores {
		m, err := readManifest(store)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Runs) != []int{2, 1}[k] {
			t.Errorf("shard %d/2 ran %d, want %d", k+1, len(m.Runs), []int{2, 1}[k])
		}
		for _, r := range m.Runs {
			rep, err := readReport(filepath.Join(store, r.Dir))
			if err != nil {
				t.Fatal(err)
			}
			seeds[rep.Seed] = true
		}
	}
	if len(seeds) != 3 || !seeds[11] || !seeds[12] || !seeds[13] {
		t.Errorf("seeds run: %v, want 11, 12 and 13", seeds)
	}
}
