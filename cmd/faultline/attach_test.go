package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/internal/attachtest"
	"github.com/faultline/faultline/internal/testcluster"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/systems"
)

// TestSIGKILLAttached kills the harness with SIGKILL while it holds an
// attached cluster (somebody else's containers) partitioned, and again
// while one of its containers is killed: `faultline clean` then heals the
// namespaces, starts the killed container again, removes faultline's
// marker and leaves every container there and running.
func TestSIGKILLAttached(t *testing.T) {
	testenv.EndToEnd(t)
	ctx := context.Background()
	cli := testcluster.Connect(t)
	project := fmt.Sprintf("flkill%d", time.Now().UnixNano()%1_000_000)
	if _, err := harness.EnsureImages(ctx, io.Discard); err != nil {
		t.Fatal(err)
	}
	etcd, err := systems.Builtin("etcd")
	if err != nil {
		t.Fatal(err)
	}
	ids, remove, err := attachtest.ComposeEtcd(ctx, cli, project, "no", etcd.Image)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := remove(); err != nil {
			t.Errorf("remove the compose project: %v", err)
		}
	})
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	for _, tc := range []struct {
		fault, trigger string
	}{
		{"{kind: isolate, node: etcd1}", "faultline: fault isolate"},
		{"{kind: kill, node: etcd2}", "faultline: fault kill"},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			scenario := filepath.Join(dir, "attach.yaml")
			os.WriteFile(scenario, []byte(fmt.Sprintf("time_limit: 30s\ncluster:\n  system: etcd\n  attach: {project: %s}\nnemesis:\n  timeline:\n    - {at: 1s, for: 25s, fault: %s}\n", project, tc.fault)), 0o644)
			runID, _, _, log, sent := signalAt(t, bin, scenario, filepath.Join(dir, "store"), tc.trigger, 300*time.Millisecond, syscall.SIGKILL)
			if !sent {
				t.Fatalf("the fault never began:\n%s", log)
			}
			stranded := false
			for _, id := range ids {
				insp, err := cli.ContainerInspect(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if !insp.State.Running {
					stranded = true
					continue
				}
				if has, _ := nemesis.HasTable(fmt.Sprintf("/proc/%d/ns/net", insp.State.Pid)); has {
					stranded = true
				}
			}
			if !stranded {
				t.Fatalf("after SIGKILL nothing was stranded; the test shows nothing:\n%s", log)
			}
			out, err := exec.Command(bin, "clean").CombinedOutput()
			if err != nil {
				t.Fatalf("clean: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "running: it is not faultline's") {
				t.Errorf("clean output:\n%s", out)
			}
			for _, id := range ids {
				insp, err := cli.ContainerInspect(ctx, id)
				if err != nil {
					t.Fatalf("clean removed an attached container: %v", err)
				}
				if !insp.State.Running || insp.State.Paused {
					t.Errorf("%s is %s after clean", insp.Name, insp.State.Status)
					continue
				}
				if has, err := nemesis.HasTable(fmt.Sprintf("/proc/%d/ns/net", insp.State.Pid)); err != nil || has {
					t.Errorf("%s still holds faultline's table: %v %v", insp.Name, has, err)
				}
			}
			for _, l := range leftoversOf(t, runID) {
				t.Errorf("left after clean: %+v", l)
			}
		})
	}
}
