package harness_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/history"
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
			if e, ok := history.DecodeEvent(r).(*history.PartitionEvent); ok {
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
}
