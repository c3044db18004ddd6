package harness_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/scenarios"
)

// A stored run checks anywhere: copied to a folder of its own, checked
// from another folder, with the system's build context and client
// program absent from this machine, it is judged with its stored claims.
func TestStoredRunChecksAnywhere(t *testing.T) {
	run := filepath.Join(t.TempDir(), "copied-run")
	if err := os.MkdirAll(run, 0o755); err != nil {
		t.Fatal(err)
	}
	stored := `name: mydb-run
seed: 7
time_limit: 30s
project: /home/someone/mydb
cluster:
  system:
    name: mydb
    image: example/mydb:dev
    build: {context: /home/someone/mydb/image}
    client: {command: [python3, /home/someone/mydb/client.py]}
workload: {kind: register}
checker:
  expect: [sequential]
`
	if err := os.WriteFile(filepath.Join(run, harness.ScenarioFile), []byte(stored), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := os.ReadFile("../checker/testdata/register-valid.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(run, harness.HistoryFile), h, 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	t.Chdir(t.TempDir())
	c, err := harness.Check(run, harness.CheckOptions{Out: out})
	if err != nil {
		t.Fatalf("check of a copied run: %v", err)
	}
	if c.Result.Verdict != checker.Valid || !slices.Equal(c.Result.Expect, []checker.Guarantee{checker.Sequential}) {
		t.Errorf("verdict %s against %v, want valid against the stored claim [sequential]", c.Result.Verdict, c.Result.Expect)
	}
}

// Whether a scenario is valid does not depend on the current folder: the
// same file is accepted, or refused with the same words, from anywhere.
func TestPathRuleSameFromAnyFolder(t *testing.T) {
	project := t.TempDir()
	if err := os.WriteFile(filepath.Join(project, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"systems", "scenarios", "image"} {
		if err := os.MkdirAll(filepath.Join(project, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(rel, body string) string {
		t.Helper()
		p := filepath.Join(project, rel)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("systems/mydb.yaml", "image: example/mydb:dev\nbuild: {context: ../image}\nclient: {command: [/usr/bin/python3, ../client.py]}\nports: {client: [7000]}\n")
	write("client.py", "")
	good := write("scenarios/good.yaml", "time_limit: 5s\ncluster: {system: ../systems/mydb.yaml}\n")
	bad := write("scenarios/bad.yaml", "time_limit: 5s\ncluster: {system: ../../elsewhere.yaml}\n")
	var first map[string]string
	for _, wd := range []string{project, filepath.Join(project, "scenarios"), t.TempDir()} {
		t.Chdir(wd)
		got := map[string]string{}
		for _, f := range []string{good, bad} {
			_, err := scenarios.Load(f)
			got[filepath.Base(f)] = "ok"
			if err != nil {
				got[filepath.Base(f)] = err.Error()
			}
		}
		if got["good.yaml"] != "ok" {
			t.Errorf("from %s: a system file in the project, a program by absolute path: %s", wd, got["good.yaml"])
		}
		if got["bad.yaml"] == "ok" {
			t.Errorf("from %s: a system file outside the project accepted", wd)
		}
		if first == nil {
			first = got
		} else if got["bad.yaml"] != first["bad.yaml"] {
			t.Errorf("from %s: %q, from %s: %q", wd, got["bad.yaml"], project, first["bad.yaml"])
		}
	}
	t.Logf("refused: %s", first["bad.yaml"])

	// The copy a run stores records its project, so that it loads again
	// from a folder elsewhere (a run's store, a copy of it).
	sc, err := scenarios.Load(good)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(t.TempDir(), "scenario.yaml")
	if err := os.WriteFile(copied, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := scenarios.Load(copied); err != nil {
		t.Errorf("the stored copy, elsewhere: %v\n%s", err, b)
	}
}

// A run made elsewhere, replayed here without its image (not in the
// engine, its build context gone) and without its client program's file,
// says all it lacks at once, where it looked, before it starts anything.
func TestReplayNamesWhatItLacks(t *testing.T) {
	testenv.EndToEnd(t)
	project := t.TempDir()
	if err := os.WriteFile(filepath.Join(project, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := filepath.Join(project, "image")
	client := filepath.Join(project, "client.py")
	replay := filepath.Join(t.TempDir(), harness.ReplayFile)
	src := fmt.Sprintf(`name: elsewhere
seed: 7
time_limit: 5s
project: %s
cluster:
  system:
    name: mydb
    image: faultline/not-on-this-machine:1
    build: {context: %s}
    ports: {client: [7000]}
workload:
  client: {command: [/usr/bin/python3, %s]}
checker:
  expect: [sequential]
`, project, ctx, client)
	if err := os.WriteFile(replay, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	sc, err := scenarios.Load(replay)
	if err != nil {
		t.Fatalf("a replay whose inputs are elsewhere is a valid file: %v", err)
	}
	rep, err := harness.Run(context.Background(), sc, harness.Options{StoreRoot: t.TempDir(), Log: io.Discard})
	if !errors.Is(err, harness.ErrInputs) || !errors.Is(err, docker.ErrImage) {
		t.Fatalf("want ErrInputs and docker.ErrImage, got %v", err)
	}
	for _, want := range []string{
		"the run needs 2 inputs this machine lacks",
		"image faultline/not-on-this-machine:1 (system mydb): not in the Docker engine at ",
		"and its build context " + ctx + " is not a folder on this machine",
		"file " + client + " (" + replay + ": workload.client.command[1]): not on this machine",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
	// The scenario's warning (sequential with cas in the mix) is kept
	// with the run, also one that stopped before anything started.
	if got := readResults(t, rep.StoreDir).Warnings; len(got) != 1 || !strings.Contains(got[0], "warning: checker.expect[0]: with cas in the mix") {
		t.Errorf("results.json warnings: %q", got)
	}
	assertClean(t, rep.RunID)
}
