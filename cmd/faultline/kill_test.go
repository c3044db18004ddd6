package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/internal/testcluster"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/nemesis"
)

// killScenario is short and has every kind of state a kill can strand: a
// gray fault (userspace queue, queue rules, an HTB qdisc) then a partition.
const killScenario = `description: a short refkv run for kill and interrupt tests
time_limit: 7s
cluster:
  system: refkv
workload:
  rate: 200
nemesis:
  timeline:
    - {at: 1s, for: 2s, fault: {kind: gray, node: n1, delay: 20ms, loss: 5, rate: 10mbit}}
    - {at: 3500ms, for: 2s, fault: {kind: isolate, node: n2}}
`

// signalAt runs the binary on the kill scenario and sends sig once a
// progress line containing trigger has appeared and after has passed. It
// returns the run id, the store folder of the run (if made), the exit
// error, the log, and whether the signal was sent.
// runIDIn finds the run id in a progress line "[time] faultline: run ID of ...".
func runIDIn(line string) string {
	_, rest, ok := strings.Cut(line, "faultline: run ")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, " ")
	return id
}

func signalAt(t *testing.T, bin, scenario, store, trigger string, after time.Duration, sig syscall.Signal) (runID, runDir string, werr error, log string, sent bool) {
	t.Helper()
	cmd := exec.Command(bin, "run", "-seed", "1", "-store", store, scenario)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		line := sc.Text()
		b.WriteString(line + "\n")
		if id := runIDIn(line); id != "" && runID == "" {
			runID = id
		}
		if !sent && strings.Contains(line, trigger) {
			time.Sleep(after)
			cmd.Process.Signal(sig)
			sent = true
		}
	}
	werr = cmd.Wait()
	dirs, _ := filepath.Glob(filepath.Join(store, "*", "*", "scenario.yaml"))
	if len(dirs) == 1 {
		runDir = filepath.Dir(dirs[0])
	}
	return runID, runDir, werr, b.String(), sent
}

// runNodes are the running containers a run left, as the nemesis sees them.
func runNodes(t *testing.T, runID string) []nemesis.Node {
	t.Helper()
	ctx := context.Background()
	cli := testcluster.Connect(t)
	var nodes []nemesis.Node
	for _, l := range leftoversOf(t, runID) {
		if l.Kind != "container" || l.Pid == 0 {
			continue
		}
		insp, err := cli.ContainerInspect(ctx, strings.TrimPrefix(l.Name, "/"))
		if err != nil || insp.NetworkSettings == nil {
			continue
		}
		for _, n := range insp.NetworkSettings.Networks {
			if a, err := netip.ParseAddr(n.IPAddress); err == nil {
				nodes = append(nodes, nemesis.Node{Name: insp.Config.Labels[docker.LabelNode], Addr: a, NetNS: l.NetNS()})
			}
		}
	}
	return nodes
}

// TestSIGKILLAnywhere kills the harness with SIGKILL at 20 points of a run
// (start-up, cluster start, readiness, gray queue running, partition in
// force, final reads, checking, teardown). After each: what the kill left
// in the nodes is found and removed by what `faultline clean` runs, after
// which every node reaches every other with real packets; `faultline
// clean` then leaves no container, network, table, qdisc or queue of the
// run; and the history parses up to its last complete line and re-checks
// with `faultline check`.
func TestSIGKILLAnywhere(t *testing.T) {
	testenv.EndToEnd(t)
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	scenario := filepath.Join(dir, "kill.yaml")
	if err := os.WriteFile(scenario, []byte(killScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	points := []struct {
		trigger string
		after   time.Duration
	}{
		{"faultline: run ", 0},
		{"faultline: run ", 150 * time.Millisecond},
		{"starting 3-node", 0},
		{"starting 3-node", 300 * time.Millisecond},
		{"starting 3-node", 900 * time.Millisecond},
		{"cluster ready", 0},
		{"workload register", 300 * time.Millisecond},
		{"fault gray", 0},
		{"fault gray", 400 * time.Millisecond},
		{"fault gray", 1200 * time.Millisecond},
		{"fault gray", 1900 * time.Millisecond},
		{"fault isolate", 0},
		{"fault isolate", 600 * time.Millisecond},
		{"fault isolate", 1500 * time.Millisecond},
		{"fault isolate", 2300 * time.Millisecond},
		{"workload done", 0},
		{"checking ", 0},
		{"tearing down", 0},
		{"tearing down", 100 * time.Millisecond},
		{"tearing down", 400 * time.Millisecond},
	}
	var strandedTables, strandedQdiscs, leftovers int
	for i, p := range points {
		name := fmt.Sprintf("%02d %s+%v", i+1, strings.TrimPrefix(p.trigger, "faultline: "), p.after)
		t.Run(name, func(t *testing.T) {
			store := filepath.Join(dir, fmt.Sprintf("store-%02d", i))
			runID, runDir, werr, log, sent := signalAt(t, bin, scenario, store, p.trigger, p.after, syscall.SIGKILL)
			if !sent {
				t.Fatalf("trigger %q never appeared (exit %v):\n%s", p.trigger, werr, log)
			}
			var exit *exec.ExitError
			if !errors.As(werr, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Logf("the run ended before the kill landed: %v", werr)
			}
			if runID == "" {
				t.Fatalf("no run id in:\n%s", log)
			}

			// What the kill stranded in the nodes, healed as clean heals.
			nodes := runNodes(t, runID)
			for _, n := range nodes {
				table, qdisc, err := nemesis.Installed(n.NetNS)
				if err != nil {
					t.Fatalf("%s: %v", n.Name, err)
				}
				if table {
					strandedTables++
				}
				if qdisc {
					strandedQdiscs++
				}
				if err := nemesis.CleanNamespace(n.NetNS); err != nil {
					t.Fatalf("clean %s: %v", n.Name, err)
				}
				if table, qdisc, _ := nemesis.Installed(n.NetNS); table || qdisc {
					t.Errorf("%s still holds faultline's table (%v) or qdisc (%v) after cleaning", n.Name, table, qdisc)
				}
			}
			if len(nodes) > 1 {
				net, err := nemesis.NewNet(nodes)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				obs, err := net.Verify(ctx)
				cancel()
				if err != nil {
					t.Errorf("after cleaning, the nodes do not all reach each other: %v (%v)", err, obs)
				}
			}

			out, err := exec.Command(bin, "clean").CombinedOutput()
			if err != nil {
				t.Fatalf("faultline clean: %v\n%s", err, out)
			}
			for _, l := range leftoversOf(t, runID) {
				leftovers++
				t.Errorf("left after clean: %s %s", l.Kind, l.Name)
			}
			if table, qdisc, err := nemesis.Installed("/proc/self/ns/net"); err != nil || table || qdisc {
				t.Errorf("faultline state in the host's namespace: table %v qdisc %v (%v)", table, qdisc, err)
			}

			// The history: every complete line parses, and it re-checks.
			if runDir == "" {
				return // killed before the store folder was made
			}
			hist := filepath.Join(runDir, "history.jsonl")
			if _, err := os.Stat(hist); err != nil {
				if strings.Contains(log, "cluster ready") {
					t.Errorf("no history although the cluster was up: %v", err)
				}
				return
			}
			recs, err := history.ReadFile(hist)
			if err != nil && !errors.Is(err, history.ErrTruncated) {
				t.Fatalf("history after SIGKILL: %v", err)
			}
			if len(recs) == 0 {
				return // killed before the first operation
			}
			if strings.Contains(log, "tearing down") {
				if b, err := os.ReadFile(filepath.Join(runDir, "results.json")); err != nil || !(strings.Contains(string(b), `"verdict": "valid"`) || strings.Contains(string(b), `"verdict": "invalid"`) || strings.Contains(string(b), `"verdict": "unknown"`)) {
					t.Errorf("killed in teardown, after checking: results.json has no verdict: %v\n%s", err, b)
				}
			}
			check := exec.Command(bin, "check", "-out", filepath.Join(t.TempDir(), "check"), runDir)
			cout, cerr := check.CombinedOutput()
			code := 0
			if errors.As(cerr, &exit) {
				code = exit.ExitCode()
			}
			if code != exitValid && code != exitInvalid && code != exitUnknown {
				t.Errorf("faultline check of the killed run (%d records): exit %d\n%s", len(recs), code, cout)
			}
			t.Logf("%d records kept; check exit %d", len(recs), code)
		})
	}
	t.Logf("%d kill points: stranded %d nftables tables and %d qdiscs in nodes, all removed; %d objects left after clean", len(points), strandedTables, strandedQdiscs, leftovers)
}

// TestSIGTERMInterrupts sends SIGTERM at several points: the run heals,
// tears down, checks what it recorded, says it was interrupted and exits 4,
// leaving nothing of its own behind.
func TestSIGTERMInterrupts(t *testing.T) {
	testenv.EndToEnd(t)
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	scenario := filepath.Join(dir, "term.yaml")
	if err := os.WriteFile(scenario, []byte(killScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, p := range []struct {
		trigger string
		after   time.Duration
	}{
		{"starting 3-node", 0},
		{"starting 3-node", 100 * time.Millisecond},
		{"starting 3-node", 200 * time.Millisecond},
		{"starting 3-node", 400 * time.Millisecond},
		{"cluster ready", 0},
		{"fault gray", 500 * time.Millisecond},
		{"fault isolate", 500 * time.Millisecond},
	} {
		t.Run(fmt.Sprintf("%s+%v", p.trigger, p.after), func(t *testing.T) {
			store := filepath.Join(dir, fmt.Sprintf("store-%d", i))
			runID, runDir, werr, log, sent := signalAt(t, bin, scenario, store, p.trigger, p.after, syscall.SIGTERM)
			var exit *exec.ExitError
			if !sent || !errors.As(werr, &exit) || exit.ExitCode() != exitInterrupted {
				t.Fatalf("sent %v; exit %v, want %d:\n%s", sent, werr, exitInterrupted, log)
			}
			if !strings.Contains(log, "interrupted") {
				t.Errorf("the log does not say the run was interrupted:\n%s", log)
			}
			for _, l := range leftoversOf(t, runID) {
				t.Errorf("left after SIGTERM: %s %s (%s)", l.Kind, l.Name, l.Liveness)
			}
			if b, err := os.ReadFile(filepath.Join(runDir, "results.json")); err != nil || !strings.Contains(string(b), "interrupted") {
				t.Errorf("results.json does not record the interruption: %v\n%s", err, b)
			}
			if strings.Contains(log, "fault ") {
				recs, err := history.ReadFile(filepath.Join(runDir, "history.jsonl"))
				if err != nil {
					t.Fatalf("reading the history after SIGTERM: %v", err)
				}
				endsHealed(t, recs)
			}
		})
	}
}

// endsHealed checks that an interrupted run's history closes with its end
// mark, saying it was interrupted, right after the final heal.
func endsHealed(t *testing.T, recs []history.Record) {
	t.Helper()
	n := len(recs)
	if n < 2 {
		t.Fatalf("history after SIGTERM has %d records", n)
	}
	last, heal := recs[n-1], recs[n-2]
	var end history.EndMark
	if last.F != history.MarkEnd || json.Unmarshal(last.Value, &end) != nil || end.Stopped != "interrupted" {
		t.Errorf("history after SIGTERM does not close with an end mark saying it was interrupted: %+v", last)
	}
	if heal.F != "heal" || heal.Process != history.Nemesis {
		t.Errorf("the record before the end mark is not the final heal: %+v", heal)
	}
}
