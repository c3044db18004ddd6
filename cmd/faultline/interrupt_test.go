package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/history"
)

// TestCtrlCCleansUp runs the real binary on the default scenario, sends it
// SIGINT while a partition is in place, and checks that it exits 3, keeps
// the history recorded so far and leaves no container or network behind.
func TestCtrlCCleansUp(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "faultline")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	store := filepath.Join(dir, "store")
	cmd := exec.Command(bin, "run", "-store", store, "../../scenarios/etcd-register.yaml")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	sent := false
	for sc.Scan() {
		line := sc.Text()
		log.WriteString(line + "\n")
		if !sent && strings.Contains(line, "faultline: partition ") {
			cmd.Process.Signal(syscall.SIGINT)
			sent = true
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("exit %v, want 3; sent SIGINT: %v\n%s", err, sent, log.String())
	}
	if !strings.Contains(log.String(), "interrupted") {
		t.Errorf("stderr does not say the run was interrupted:\n%s", log.String())
	}
	recs, err := history.ReadFile(filepath.Join(store, "latest", "history.jsonl"))
	if err != nil || len(recs) < 10 {
		t.Errorf("history after Ctrl-C: %d records, %v", len(recs), err)
	}
	if len(recs) > 0 && (recs[len(recs)-1].Process != history.Nemesis || recs[len(recs)-1].F != "heal") {
		t.Errorf("history does not end with the heal: %+v", recs[len(recs)-1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cli, err := docker.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	left, err := docker.Leftovers(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(store, "latest", "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		RunID string `json:"run_id"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(b, &res); err != nil || res.RunID == "" || res.Error == "" {
		t.Fatalf("results.json after Ctrl-C: %s (%v)", b, err)
	}
	for _, l := range left {
		if l.RunID == res.RunID {
			t.Errorf("left behind after Ctrl-C: %+v", l)
		}
	}
	if _, err := os.Stat(filepath.Join(store, "latest", "nodes", "n1.log")); err != nil {
		t.Errorf("node logs not saved after Ctrl-C: %v", err)
	}
}
