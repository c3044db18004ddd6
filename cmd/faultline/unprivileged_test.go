package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/internal/testcluster"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/nemesis"
)

// unprivileged is a controller that can reach only the Docker engine's
// API: it runs as nobody, with no capabilities, through a proxy socket of
// the engine's (not the engine's own socket), with no Go toolchain, so it
// can neither enter the nodes' namespaces nor read their /proc.
type unprivileged struct {
	bin, dir, sock string
	// stale is the stale-reads scenario, where that user can read it.
	stale string
}

func newUnprivileged(t *testing.T) unprivileged {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run faultline as another user")
	}
	// What a CI job's earlier step would have built.
	if _, err := harness.EnsureImages(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "faultline-unprivileged-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	u := unprivileged{bin: buildBinary(t, dir), dir: dir, sock: filepath.Join(dir, "engine.sock"), stale: filepath.Join(dir, "stale.yaml")}
	os.Chmod(u.bin, 0o755)
	testcluster.EngineProxy(t, u.sock)
	b, err := os.ReadFile("../../scenarios/etcd-stale-reads.yaml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(u.stale, b, 0o644)
	return u
}

// findsStaleReads runs the stale-reads scenario through run, wants it
// invalid as it expects (exit 0), each of logs in its progress, and
// nothing of it left; it returns the run's store folder.
func findsStaleReads(t *testing.T, run *exec.Cmd, store string, logs ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	run.Stdout, run.Stderr = &stdout, &stderr
	if err := run.Run(); err != nil {
		t.Fatalf("exit %v, want 0 (invalid, as expected)\n%s\n%s", err, &stdout, &stderr)
	}
	for _, want := range logs {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, &stderr)
		}
	}
	if !strings.Contains(stdout.String(), "verdict: INVALID") || !strings.Contains(stdout.String(), ": met") {
		t.Errorf("stdout:\n%s", &stdout)
	}
	runID := ""
	for _, l := range strings.Split(stderr.String(), "\n") {
		if id := runIDIn(l); id != "" {
			runID = id
		}
	}
	for _, l := range leftoversOf(t, runID) {
		t.Errorf("left behind: %s %s", l.Kind, l.Name)
	}
	dirs, _ := filepath.Glob(filepath.Join(store, "*", runID))
	if len(dirs) != 1 {
		t.Fatalf("the run's store folder: %v", dirs)
	}
	return dirs[0]
}

// cmd runs faultline as nobody with nothing but the proxy's socket.
func (u unprivileged) cmd(args ...string) *exec.Cmd {
	root, _ := filepath.Abs("../..")
	c := exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", u.bin}, args...)...)
	c.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + u.dir, "DOCKER_HOST=unix://" + u.sock, "FAULTLINE_SRC=" + root}
	c.Dir = u.dir
	return c
}

// TestUnprivilegedController runs the stale-reads scenario with the
// controller as an unprivileged user that reaches only the engine's API:
// the nemesis goes through helper containers, the anomaly is found as
// root finds it, and nothing is left behind. Then it kills such a
// controller with SIGKILL while a partition is in force: its helpers,
// whose input ends with it, heal and leave; `faultline clean`, run by the
// same user, removes the rest.
func TestUnprivilegedController(t *testing.T) {
	testenv.EndToEnd(t)
	u := newUnprivileged(t)
	t.Run("stale reads", func(t *testing.T) {
		store := filepath.Join(u.dir, "store")
		findsStaleReads(t, u.cmd("run", "-store", store, u.stale), store,
			"the nemesis runs in helper containers: this process lacks CAP_SYS_ADMIN and CAP_NET_ADMIN")
	})

	t.Run("SIGKILL and clean", func(t *testing.T) {
		killMidFault(t, u.cmd("run", "-store", filepath.Join(u.dir, "store-kill"), u.stale), u.cmd("clean"))
	})
}

// killMidFault starts run, kills it with SIGKILL once a partition is in
// force, wants the helpers and the client container gone by themselves
// (their input ended with the controller) and the nodes without
// faultline's table, then runs clean and wants nothing of the run left.
func killMidFault(t *testing.T, run, clean *exec.Cmd) {
	t.Helper()
	stderr, err := run.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	runID := ""
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if id := runIDIn(sc.Text()); id != "" && runID == "" {
			runID = id
		}
		if strings.Contains(sc.Text(), "fault isolate") {
			run.Process.Kill()
			break
		}
	}
	run.Wait()
	if runID == "" {
		t.Fatal("no run id, or no fault, before the kill")
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		left := 0
		for _, l := range leftoversOf(t, runID) {
			if l.Helper {
				left++
			}
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d helpers or client containers still there 20 s after their controller died", left)
		}
		time.Sleep(200 * time.Millisecond)
	}
	nodes := runNodes(t, runID)
	if len(nodes) != 3 {
		t.Fatalf("%d nodes running after the kill, want 3", len(nodes))
	}
	for _, n := range nodes {
		if table, _, err := nemesis.Installed(n.NetNS); err != nil || table {
			t.Errorf("%s keeps faultline's table after its helper went (%v)", n.Name, err)
		}
	}
	start := time.Now()
	out, err := clean.CombinedOutput()
	if err != nil {
		t.Fatalf("faultline clean from where the run was: %v\n%s", err, out)
	}
	t.Logf("faultline clean after SIGKILL: %v\n%s", time.Since(start).Round(time.Millisecond), out)
	for _, l := range leftoversOf(t, runID) {
		t.Errorf("left after clean: %s %s", l.Kind, l.Name)
	}
}

// isolated runs faultline as root, but in a network namespace of its own
// (no route to the nodes' addresses), a PID namespace of its own (the
// nodes' processes out of sight) and a mount namespace where the engine's
// own socket is masked: it reaches the engine only through the proxy's
// socket, as a controller on another host would.
func (u unprivileged) isolated(args ...string) *exec.Cmd {
	root, _ := filepath.Abs("../..")
	script := `mount --bind /dev/null /run/docker.sock && exec "$0" "$@"`
	c := exec.Command("unshare", append([]string{"--net", "--pid", "--fork", "--kill-child=SIGKILL", "--mount-proc", "sh", "-c", script, u.bin}, args...)...)
	c.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + u.dir, "DOCKER_HOST=unix://" + u.sock, "FAULTLINE_SRC=" + root}
	c.Dir = u.dir
	return c
}

// TestControllerWithoutRoutes runs the stale-reads scenario from a
// controller that reaches the engine only through a proxy of its socket
// and can reach neither the nodes' addresses nor their processes: faults
// go through helper containers, the clients run in a container on the
// run's network, and the anomaly is found; then such a controller is
// killed with SIGKILL mid-fault, and its helpers and client container
// leave, the rest going with `faultline clean`.
func TestControllerWithoutRoutes(t *testing.T) {
	testenv.EndToEnd(t)
	u := newUnprivileged(t)
	t.Run("stale reads", func(t *testing.T) {
		store := filepath.Join(u.dir, "store-isolated")
		dir := findsStaleReads(t, u.isolated("run", "-store", store, u.stale), store,
			"the nemesis runs in helper containers", "the clients run in a container on the run's network: this host does not reach the nodes' addresses")
		// The results and the report say how the run reached its nodes.
		res, _ := os.ReadFile(filepath.Join(dir, "results.json"))
		page, _ := os.ReadFile(filepath.Join(dir, "report.html"))
		if !strings.Contains(string(res), `"nemesis": "helper"`) || !strings.Contains(string(res), `"clients": "network"`) ||
			!strings.Contains(string(page), "clients in a container on the run&#39;s network") {
			t.Errorf("results.json or the report does not say how the run reached its nodes:\n%s", res)
		}
	})

	t.Run("SIGKILL and clean", func(t *testing.T) {
		// unshare dies, and with it (--kill-child) the controller.
		killMidFault(t, u.isolated("run", "-store", filepath.Join(u.dir, "store-isolated-kill"), u.stale), u.isolated("clean"))
	})
}
