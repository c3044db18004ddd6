package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/internal/testcluster"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/nemesis"
)

// TestCtrlCCleansUp runs the real binary on the default scenario, sends it
// SIGINT while a partition is in place, and checks that it exits 4, keeps
// the history recorded so far and leaves no container or network behind.
// buildBinary builds faultline into dir.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "faultline")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// leftoversOf lists what the engine still holds of one run.
func leftoversOf(t *testing.T, runID string) []docker.Leftover {
	t.Helper()
	ctx := context.Background()
	cli := testcluster.Connect(t)
	all, err := docker.Leftovers(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	var left []docker.Leftover
	for _, l := range all {
		if l.RunID == runID {
			left = append(left, l)
		}
	}
	return left
}

// startRun starts the binary on the default scenario and returns it with a
// scanner over its progress lines.
func startRun(t *testing.T, bin, store string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(bin, "run", "-store", store, "../../scenarios/etcd-register.yaml")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewScanner(stderr)
}

func TestCtrlCCleansUp(t *testing.T) {
	testenv.EndToEnd(t)
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	store := filepath.Join(dir, "store")
	cmd, sc := startRun(t, bin, store)
	var log strings.Builder
	sent := false
	for sc.Scan() {
		line := sc.Text()
		log.WriteString(line + "\n")
		if !sent && strings.Contains(line, "faultline: fault ") {
			cmd.Process.Signal(syscall.SIGINT)
			sent = true
		}
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitInterrupted {
		t.Fatalf("exit %v, want %d; sent SIGINT: %v\n%s", err, exitInterrupted, sent, log.String())
	}
	if !strings.Contains(log.String(), "interrupted") || !strings.Contains(log.String(), "checking the") {
		t.Errorf("stderr does not say the run was interrupted and checked:\n%s", log.String())
	}
	recs, err := history.ReadFile(filepath.Join(store, "latest", "history.jsonl"))
	if err != nil || len(recs) < 10 {
		t.Errorf("history after Ctrl-C: %d records, %v", len(recs), err)
	}
	// The heal, then the end mark saying the run was interrupted: the
	// records are all there.
	if n := len(recs); n < 2 || recs[n-2].Process != history.Nemesis || recs[n-2].F != "heal" || recs[n-1].F != history.MarkEnd || !strings.Contains(string(recs[n-1].Value), "interrupted") || history.Whole(recs) != nil {
		t.Errorf("history does not end with the heal and the end mark: %+v", recs[max(0, n-2):])
	}
	b, err := os.ReadFile(filepath.Join(store, "latest", "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		RunID   string `json:"run_id"`
		Error   string `json:"error"`
		Verdict string `json:"verdict"`
	}
	if err := json.Unmarshal(b, &res); err != nil || res.RunID == "" || res.Error == "" || res.Verdict == "" {
		t.Fatalf("results.json after Ctrl-C wants the run id, the error and the verdict of what was recorded: %s (%v)", b, err)
	}
	for _, l := range leftoversOf(t, res.RunID) {
		t.Errorf("left behind after Ctrl-C: %+v", l)
	}
	if _, err := os.Stat(filepath.Join(store, "latest", "nodes", "n1.log")); err != nil {
		t.Errorf("node logs not saved after Ctrl-C: %v", err)
	}
}

// TestSIGKILLThenClean kills the harness with SIGKILL while a partition is
// in place: nothing can clean up then. The next run must warn about what
// was left, and `faultline clean` must heal the nodes' namespaces and
// remove containers and network.
func TestSIGKILLThenClean(t *testing.T) {
	testenv.EndToEnd(t)
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	store := filepath.Join(dir, "store")
	cmd, sc := startRun(t, bin, store)
	var runID string
	for sc.Scan() {
		line := sc.Text()
		if id := runIDIn(line); id != "" && runID == "" {
			runID = id
		}
		if strings.Contains(line, "faultline: fault ") {
			cmd.Process.Kill()
			break
		}
	}
	cmd.Wait()
	if runID == "" {
		t.Fatal("no run id in the harness log")
	}
	containers, tables := 0, 0
	for _, l := range leftoversOf(t, runID) {
		if l.Kind != "container" {
			continue
		}
		containers++
		if has, _ := nemesis.HasTable(fmt.Sprintf("/proc/%d/ns/net", l.Pid)); has {
			tables++
		}
	}
	if containers != 3 || tables == 0 {
		t.Fatalf("after SIGKILL: %d containers of the run, %d with faultline's table; want 3 and at least 1", containers, tables)
	}
	if recs, err := history.ReadFile(filepath.Join(store, "latest", "history.jsonl")); err != nil || len(recs) == 0 {
		t.Errorf("history after SIGKILL: %d records, %v", len(recs), err)
	}

	// The next run warns (it stops early: its cluster is given no time to
	// become ready).
	quick := filepath.Join(dir, "quick.yaml")
	os.WriteFile(quick, []byte("time_limit: 1s\ncluster:\n  ready_timeout: 50ms\n"), 0o644)
	out, _ := exec.Command(bin, "run", "-store", store, quick).CombinedOutput()
	if !strings.Contains(string(out), "left by earlier runs") || !strings.Contains(string(out), "faultline clean") {
		t.Errorf("the next run does not warn about the leftovers:\n%s", out)
	}

	out, err := exec.Command(bin, "clean").CombinedOutput()
	if err != nil {
		t.Fatalf("clean: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "healed ") || !strings.Contains(string(out), "removed network faultline-"+runID) {
		t.Errorf("clean output:\n%s", out)
	}
	for _, l := range leftoversOf(t, runID) {
		t.Errorf("left after clean: %+v", l)
	}
}
