package harness_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/internal/attachtest"
	"github.com/faultline/faultline/internal/testcluster"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/scenarios"
	"github.com/faultline/faultline/systems"
	"github.com/faultline/faultline/workloads/clients"
	"github.com/faultline/faultline/workloads/nodecheck"
)

func runFile(t *testing.T, path string, edit func(*scenarios.Scenario)) (harness.Report, error) {
	t.Helper()
	return runFileWith(t, path, edit, harness.Options{})
}

// runScenarioWith runs a shipped scenario with options.
func runScenarioWith(t *testing.T, file string, edit func(*scenarios.Scenario), opts harness.Options) (harness.Report, error) {
	t.Helper()
	return runFileWith(t, filepath.Join("..", "scenarios", file), edit, opts)
}

func runFileWith(t *testing.T, path string, edit func(*scenarios.Scenario), opts harness.Options) (harness.Report, error) {
	t.Helper()
	sc, err := scenarios.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(sc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var log strings.Builder
	opts.StoreRoot = storeRoot(t)
	if opts.Progress == nil {
		opts.Log = &log
	}
	rep, err := harness.Run(ctx, sc, opts)
	t.Logf("harness log:\n%s", log.String())
	return rep, err
}

// TestExampleSystems runs each third-party example system's scenarios
// (examples/<system>/scenarios) and wants the verdict each one expects:
// systems faultline knows only from their system file or compose file.
func TestExampleSystems(t *testing.T) {
	testenv.EndToEnd(t)
	if _, err := harness.EnsureImages(context.Background(), io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file string
		want checker.Verdict
		logs []string // files each node must have written into the store
	}{
		{"../examples/redis-sentinel/scenarios/isolate-master.yaml", checker.Invalid, nil},
		{"../examples/redis-sentinel/scenarios/isolate-replica.yaml", checker.Valid, nil},
		{"../examples/mnesia/scenarios/split-brain.yaml", checker.Invalid, []string{"n1/data/mnesia/schema.DAT", "n3/data/mnesia/schema.DAT"}},
		{"../examples/mnesia/scenarios/short-blip.yaml", checker.Valid, nil},
		{"../examples/etcd-compose/etcd-compose.yaml", checker.Valid, nil},
		// Services that build their own image from refkv's.
		{"testdata/compose-build/compose-build.yaml", checker.Valid, nil},
	} {
		t.Run(strings.TrimPrefix(tc.file, "../examples/"), func(t *testing.T) {
			rep, err := runFile(t, tc.file, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Verdict != tc.want {
				t.Errorf("verdict %s, want %s: %+v", rep.Verdict, tc.want, rep.Keys)
			}
			if rep.Counts.OK < 500 || rep.Counts.Faults < 1 {
				t.Errorf("too little happened: %+v", rep.Counts)
			}
			if tc.want == checker.Invalid {
				for _, k := range rep.Keys {
					if k.Verdict == checker.Invalid && k.Explanation == nil {
						t.Errorf("key %s invalid without an explanation", k.Key)
					}
				}
			}
			for _, f := range tc.logs {
				if _, err := os.Stat(filepath.Join(rep.StoreDir, harness.NodesDir, f)); err != nil {
					t.Errorf("store lacks %s: %v", f, err)
				}
			}
			assertClean(t, rep.RunID)
		})
	}
}

// TestUserSystemErrors: a system whose image is neither in the engine nor
// buildable, and one that never becomes ready, stop the run before the
// workload with an error naming the image or the node and its last log
// lines, and leave nothing behind.
func TestUserSystemErrors(t *testing.T) {
	testenv.EndToEnd(t)
	for _, tc := range []struct {
		file  string
		is    error
		wants []string
	}{
		{"never-ready.yaml", nodecheck.ErrNotReady, []string{"n1 was not ready within 3s", "checked by GET /no-such-path on port 8080", "its last log lines: "}},
		{"absent-image.yaml", docker.ErrImage, []string{"image faultline-test/absent:1 (system absent): not in the Docker engine at ", "and nothing says how to build it (build or load it first"}},
		{"no-leader-answer.yaml", clients.ErrClientProgram, []string{"system noleader says leader.client: true, but the client program", "does not answer leader requests (its answer to hello: protocol 1"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			rep, err := runFile(t, filepath.Join("testdata", tc.file), nil)
			if !errors.Is(err, tc.is) {
				t.Errorf("error %v, want %v", err, tc.is)
			}
			for _, w := range tc.wants {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v lacks %q", err, w)
				}
			}
			if got := readResults(t, rep.StoreDir); got.Error == "" {
				t.Errorf("results.json does not say what stopped the run")
			}
			assertClean(t, rep.RunID)
		})
	}
}

// etcdImage is the built-in etcd system's image, built if missing.
func etcdImage(t *testing.T) string {
	t.Helper()
	if _, err := harness.EnsureImages(context.Background(), io.Discard); err != nil {
		t.Fatal(err)
	}
	d, err := systems.Builtin("etcd")
	if err != nil {
		t.Fatal(err)
	}
	return d.Image
}

// composeProject starts etcd as docker compose would (testcluster),
// removed when the test ends.
func composeProject(t *testing.T, cli *client.Client, project, restart string) []string {
	t.Helper()
	ids, remove, err := attachtest.ComposeEtcd(context.Background(), cli, project, restart, etcdImage(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := remove(); err != nil {
			t.Errorf("remove the compose project: %v", err)
		}
	})
	return ids
}

// TestAttach runs a scenario against a cluster somebody else started:
// faultline finds it by compose project, partitions, kills and pauses its
// members, and leaves every container there, running, unlabelled and
// healed; selectors that match nothing, or kills Docker would undo, are
// refused before anything is touched.
func TestAttach(t *testing.T) {
	testenv.EndToEnd(t)
	ctx := context.Background()
	cli := testcluster.Connect(t)
	project := fmt.Sprintf("flattach%d", time.Now().UnixNano()%1_000_000)
	ids := composeProject(t, cli, project, "no")
	src := fmt.Sprintf(`time_limit: 20s
cluster:
  system: etcd
  attach: {project: %s}
workload: {keys: 3, clients: 6, rate: 150}
nemesis:
  timeline:
    - {at: 2s, for: 4s, fault: {kind: isolate, node: leader, ports: peer}}
    - {at: 8s, for: 3s, fault: {kind: kill, node: etcd2}}
    - {at: 13s, for: 3s, fault: {kind: pause, node: etcd3}}
`, project)
	path := filepath.Join(t.TempDir(), "attach.yaml")
	os.WriteFile(path, []byte(src), 0o644)
	rep, err := runFile(t, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != checker.Valid || rep.Counts.Faults < 3 || rep.Counts.OK < 500 {
		t.Errorf("verdict %s, counts %+v", rep.Verdict, rep.Counts)
	}
	recs, err := history.ReadFile(filepath.Join(rep.StoreDir, harness.HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]bool{}
	for _, r := range recs {
		nodes[r.Node] = true
	}
	if !nodes["etcd1"] || !nodes["etcd2"] || !nodes["etcd3"] {
		t.Errorf("clients pinned to %v, want the compose services", nodes)
	}
	for _, id := range ids {
		insp, err := cli.ContainerInspect(ctx, id)
		if err != nil {
			t.Fatalf("an attached container is gone: %v", err)
		}
		if !insp.State.Running || insp.State.Paused {
			t.Errorf("%s left %s", insp.Name, insp.State.Status)
		}
		if insp.Config.Labels[docker.LabelFaultline] != "" {
			t.Errorf("%s carries faultline's labels", insp.Name)
		}
		if has, err := nemesis.HasTable(fmt.Sprintf("/proc/%d/ns/net", insp.State.Pid)); err != nil || has {
			t.Errorf("%s still holds faultline's table: %v %v", insp.Name, has, err)
		}
	}
	assertClean(t, rep.RunID)

	// Refused before anything is touched.
	for _, tc := range []struct{ src, want string }{
		{"time_limit: 5s\ncluster:\n  system: etcd\n  attach: {project: no-such-project}\n", "compose project no-such-project matches no container"},
		{fmt.Sprintf("time_limit: 5s\ncluster:\n  system: etcd\n  attach: {project: %s, services: [etcd9]}\n", project), "has no running service etcd9"},
		{fmt.Sprintf("time_limit: 9s\ncluster:\n  system: etcd\n  attach: {labels: {com.docker.compose.project: %s}}\nnemesis:\n  timeline:\n    - {at: 1s, for: 2s, fault: {kind: isolate, node: n1}}\n", project),
			`nemesis.timeline[0].fault names node "n1", which the attach selector did not find (it found`},
	} {
		os.WriteFile(path, []byte(tc.src), 0o644)
		rep, err := runFile(t, path, nil)
		if !(errors.Is(err, docker.ErrAttach) || errors.Is(err, scenarios.ErrInvalid)) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
		assertClean(t, rep.RunID)
	}
	always := fmt.Sprintf("flalways%d", time.Now().UnixNano()%1_000_000)
	composeProject(t, cli, always, "always")
	os.WriteFile(path, []byte(fmt.Sprintf("time_limit: 9s\ncluster:\n  system: etcd\n  attach: {project: %s}\nnemesis:\n  timeline:\n    - {at: 1s, for: 2s, fault: {kind: kill, node: etcd1}}\n", always)), 0o644)
	rep, err = runFile(t, path, nil)
	if !errors.Is(err, scenarios.ErrInvalid) || !strings.Contains(err.Error(), `has restart policy "always": Docker would undo a kill at once`) {
		t.Errorf("kill under a restart policy: %v", err)
	}
	assertClean(t, rep.RunID)
}
