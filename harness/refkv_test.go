package harness_test

import (
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/scenarios"
)

// TestRefKVDetection is the fast detection test `make test` keeps (the
// full table is `make bench-detect`): refkv's heartbeat-port bug is found
// under its port-scoped cut and missed under a cut of every port, and the
// correct build is valid under both. Real containers, real rules.
func TestRefKVDetection(t *testing.T) {
	testenv.EndToEnd(t)
	// With no umask to hide it, a store file created too open shows.
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	shorten := func(sc *scenarios.Scenario) {
		sc.Seed = 1
		sc.TimeLimit = 20 * time.Second
	}
	check := func(t *testing.T, edit func(*scenarios.Scenario), want checker.Verdict) checker.Detection {
		t.Helper()
		rep, err := runScenario(t, "bugs/heartbeat-port-fd.yaml", func(sc *scenarios.Scenario) {
			shorten(sc)
			edit(sc)
		})
		if err != nil {
			t.Fatal(err)
		}
		recs, err := history.ReadFile(filepath.Join(rep.StoreDir, harness.HistoryFile))
		if err != nil {
			t.Fatal(err)
		}
		d, err := checker.Detect(recs, rep.Result)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Verdict != want {
			t.Fatalf("verdict %s, want %s (store %s)", rep.Verdict, want, rep.StoreDir)
		}
		if rep.Counts.Faults == 0 {
			t.Fatalf("no fault was injected (store %s)", rep.StoreDir)
		}
		assertStorePermissions(t, rep.StoreDir)
		return d
	}
	t.Run("found under the port-scoped cut", func(t *testing.T) {
		d := check(t, func(*scenarios.Scenario) {}, checker.Invalid)
		if !d.Detected || d.After <= d.FirstFault {
			t.Errorf("detection %+v: the first invalid operation must come after the first fault", d)
		}
		t.Logf("detected %.1fs after the first operation, first fault at %.1fs", d.After.Seconds(), d.FirstFault.Seconds())
	})
	weaken := func(sc *scenarios.Scenario) {
		w, what, ok := sc.Weaker()
		if !ok || what != "every port cut instead of some" {
			t.Fatalf("Weaker: %q %v", what, ok)
		}
		*sc = *w
	}
	t.Run("missed under a cut of every port", func(t *testing.T) {
		check(t, weaken, checker.Valid)
	})
	t.Run("correct build valid under both", func(t *testing.T) {
		check(t, func(sc *scenarios.Scenario) { sc.Cluster.Params = map[string]string{"bug": "none"} }, checker.Valid)
		check(t, func(sc *scenarios.Scenario) { sc.Cluster.Params = map[string]string{"bug": "none"}; weaken(sc) }, checker.Valid)
	})
}

// assertStorePermissions: what a run stores is readable, and writable by
// its owner only, whatever the umask.
func assertStorePermissions(t *testing.T, dir string) {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n++
		if perm := info.Mode().Perm(); perm&0o022 != 0 || perm&0o400 == 0 {
			t.Errorf("%s: mode %v: group- or world-writable, or unreadable", path, perm)
		}
		return nil
	})
	if n < 5 {
		t.Errorf("only %d entries in the store folder %s", n, dir)
	}
}

// TestRefKVLostWrites: refkv's early-ack leader acknowledges writes it
// alone holds; cut off, it loses them when it rejoins. Keys retired after
// a few operations live and die inside one fault window, so their final
// reads, made on every node after the heal, show the acknowledged writes
// gone: no-lost-writes is violated, and the correct build keeps it.
func TestRefKVLostWrites(t *testing.T) {
	testenv.EndToEnd(t)
	run := func(t *testing.T, bug string) checker.GuaranteeResult {
		t.Helper()
		rep, err := runScenario(t, "bugs/early-ack.yaml", func(sc *scenarios.Scenario) {
			sc.Seed = 1
			sc.TimeLimit = 20 * time.Second
			sc.Workload.OpsPerKey = 30
			sc.Cluster.Params = map[string]string{"bug": bug}
			sc.Checker.Expect = []string{"no-lost-writes"}
		})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Counts.Faults == 0 || rep.Convergence == nil || rep.Convergence.Keys < 10 {
			t.Fatalf("too little happened: %+v, convergence %+v", rep.Counts, rep.Convergence)
		}
		for _, g := range rep.Guarantees {
			if g.Guarantee == checker.NoLostWrites {
				t.Logf("bug %s: %s; no-lost-writes %s (%d)", bug, rep.Boundary, g.Status, g.Total)
				return g
			}
		}
		t.Fatalf("no no-lost-writes row: %s", rep.Boundary)
		return checker.GuaranteeResult{}
	}
	t.Run("early-ack loses acknowledged writes", func(t *testing.T) {
		g := run(t, "early-ack")
		if g.Status != checker.Violated || len(g.Violations) == 0 || len(g.Violations[0].Ops) < 2 {
			t.Fatalf("no-lost-writes %s: %+v", g.Status, g)
		}
		t.Logf("first proof: %s", g.Violations[0])
	})
	t.Run("the correct build keeps them", func(t *testing.T) {
		if g := run(t, "none"); g.Status != checker.Held {
			t.Fatalf("no-lost-writes %s: %+v", g.Status, g)
		}
	})
}
