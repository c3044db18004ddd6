package harness_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/internal/testcluster"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/scenarios"
)

// TestHelperMode runs scenarios with the nemesis in helper containers, one
// in each node's namespace, as a controller that cannot enter them would:
// the stale-reads anomaly is found as in direct mode, faults are verified
// by the helpers' probes, a node killed and started again gets a new
// helper that then cuts it off, and nothing is left behind.
func TestHelperMode(t *testing.T) {
	testenv.EndToEnd(t)
	t.Run("stale reads", func(t *testing.T) {
		rep, err := runScenarioWith(t, "etcd-stale-reads.yaml", nil, harness.Options{Nemesis: harness.NemesisHelper})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Verdict != checker.Invalid || rep.Expectation == nil || !rep.Expectation.Met {
			t.Fatalf("verdict %s, expectation %+v: want invalid, as the scenario expects", rep.Verdict, rep.Expectation)
		}
		for _, n := range []string{"n1", "n2", "n3"} {
			if _, err := os.Stat(filepath.Join(rep.StoreDir, harness.HelpersDir, n+".log")); err != nil {
				t.Errorf("no helper log for %s: %v", n, err)
			}
		}
		assertClean(t, rep.RunID)
	})
	t.Run("restarted node", func(t *testing.T) {
		rep, err := runScenarioWith(t, "etcd-register.yaml", func(sc *scenarios.Scenario) {
			sc.TimeLimit = 12 * time.Second
			sc.Nemesis = scenarios.Nemesis{Timeline: []scenarios.TimedFault{
				{At: 2 * time.Second, For: 2 * time.Second, Fault: scenarios.Fault{Kind: "kill", Node: "n2"}},
				{At: 6 * time.Second, For: 3 * time.Second, Fault: scenarios.Fault{Kind: "isolate", Node: "n2"}},
			}}
		}, harness.Options{Nemesis: harness.NemesisHelper})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Verdict != checker.Valid || len(rep.Timeline) != 2 {
			t.Fatalf("verdict %s, %d faults applied: want valid, 2", rep.Verdict, len(rep.Timeline))
		}
		recs, err := history.ReadFile(filepath.Join(rep.StoreDir, harness.HistoryFile))
		if err != nil {
			t.Fatal(err)
		}
		// The cut after the restart was verified by the new helper's probes.
		for _, r := range recs {
			if e, ok := history.DecodeEvent(r).(*history.PartitionEvent); ok && r.Type == history.Info {
				if got := e.Observed["udp/47001"]["n2"]; len(got) != 0 {
					t.Errorf("n2 isolated after its restart, yet its probes reached %v", got)
				}
				if got := e.Observed["udp/47001"]["n1"]; len(got) != 1 {
					t.Errorf("n1's probes reached %v, want n3 alone", got)
				}
			}
		}
		assertClean(t, rep.RunID)
	})
	t.Run("helper killed", func(t *testing.T) {
		// The helper of n1 is killed while n1 is cut off: the heal that
		// follows fails naming it, the run stops (could not run), and a
		// new helper heals n1; nothing is left.
		cli := testcluster.Connect(t)
		var runID string
		killed := make(chan error, 1)
		var log strings.Builder
		progress := &watch{Progress: harness.Lines(&log), on: func(line string) {
			if id, ok := strings.CutPrefix(line, "run "); ok && runID == "" {
				runID, _, _ = strings.Cut(id, " ")
			}
			if strings.Contains(line, "fault isolate") {
				go func() { killed <- killHelper(cli, runID, "n1") }()
			}
		}}
		rep, err := runScenarioWith(t, "etcd-register.yaml", func(sc *scenarios.Scenario) {
			sc.TimeLimit = 10 * time.Second
			sc.Nemesis = scenarios.Nemesis{Timeline: []scenarios.TimedFault{
				{At: 2 * time.Second, For: 3 * time.Second, Fault: scenarios.Fault{Kind: "isolate", Node: "n1"}},
			}}
		}, harness.Options{Nemesis: harness.NemesisHelper, Progress: progress})
		if kerr := <-killed; kerr != nil {
			t.Fatalf("kill n1's helper: %v", kerr)
		}
		if !errors.Is(err, harness.ErrNemesis) || !strings.Contains(err.Error(), "the helper of n1 stopped answering") {
			t.Errorf("run with n1's helper killed: %v, want the nemesis to fail naming n1's helper\n%s", err, log.String())
		}
		t.Logf("the run stopped: %v", err)
		if rep.StoreDir == "" {
			t.Fatal("no store folder")
		}
		recs, herr := history.ReadFile(filepath.Join(rep.StoreDir, harness.HistoryFile))
		if herr != nil || len(recs) == 0 {
			t.Errorf("history of the run: %d records, %v", len(recs), herr)
		}
		assertClean(t, rep.RunID)
	})
	t.Run("engine refuses NET_ADMIN", func(t *testing.T) {
		// An engine whose authorization plugin refuses NET_ADMIN: the run
		// stops before any node starts, saying what the engine refused.
		sock := filepath.Join(t.TempDir(), "engine.sock")
		testcluster.RefusingEngine(t, sock, "NET_ADMIN")
		t.Setenv("DOCKER_HOST", "unix://"+sock)
		rep, err := runScenarioWith(t, "etcd-register.yaml", nil, harness.Options{Nemesis: harness.NemesisHelper})
		if err == nil || !strings.Contains(err.Error(), "NET_ADMIN is not allowed") || !strings.Contains(err.Error(), "the engine must allow NET_ADMIN and NET_RAW") {
			t.Fatalf("run on an engine refusing NET_ADMIN: %v", err)
		}
		t.Logf("the run stopped: %v", err)
		if _, serr := os.Stat(filepath.Join(rep.StoreDir, "nodes")); serr == nil {
			t.Errorf("nodes were started before the refusal")
		}
		assertClean(t, rep.RunID)
	})
}

// watch is a Progress that also hands each line to on.
type watch struct {
	harness.Progress
	on func(string)
}

func (w *watch) Logf(format string, args ...any) {
	w.Progress.Logf(format, args...)
	w.on(fmt.Sprintf(format, args...))
}

// killHelper kills the helper container of a node of a run, as the engine
// would kill a container (no chance to heal).
func killHelper(cli *client.Client, runID, node string) error {
	ctx := context.Background()
	f := filters.NewArgs(filters.Arg("label", docker.LabelRun+"="+runID), filters.Arg("label", docker.LabelHelper+"="+node))
	cs, err := cli.ContainerList(ctx, container.ListOptions{Filters: f})
	if err != nil {
		return err
	}
	if len(cs) != 1 {
		return fmt.Errorf("%d helpers of %s in run %s", len(cs), node, runID)
	}
	return cli.ContainerKill(ctx, cs[0].ID, "KILL")
}

// TestClientProgramInNetwork: a client program without an image cannot
// run inside the run's network; the run stops before any node starts,
// saying which field of which file is missing, and leaves nothing behind.
// (TestPythonClient runs one there with its image.)
func TestClientProgramInNetwork(t *testing.T) {
	testenv.EndToEnd(t)
	rep, err := runScenarioWith(t, "etcd-python-client.yaml", func(sc *scenarios.Scenario) {
		sc.Workload.Client.Image, sc.Workload.Client.Build = "", nil
	}, harness.Options{Clients: harness.ClientsNetwork})
	if !errors.Is(err, scenarios.ErrInvalid) || !strings.Contains(fmt.Sprint(err), "etcd-python-client.yaml: workload.client.image is needed") {
		t.Fatalf("a client program without an image in the network: %v", err)
	}
	if len(rep.Timeline) != 0 || rep.Counts.OK != 0 {
		t.Errorf("the run went on: %+v", rep)
	}
	assertClean(t, rep.RunID)
}
