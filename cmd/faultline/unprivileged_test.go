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
	u := unprivileged{bin: buildBinary(t, dir), dir: dir, sock: filepath.Join(dir, "engine.sock")}
	os.Chmod(u.bin, 0o755)
	testcluster.EngineProxy(t, u.sock)
	return u
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
	scenario := filepath.Join(u.dir, "stale.yaml")
	b, err := os.ReadFile("../../scenarios/etcd-stale-reads.yaml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(scenario, b, 0o644)

	t.Run("stale reads", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		c := u.cmd("run", "-store", filepath.Join(u.dir, "store"), scenario)
		c.Stdout, c.Stderr = &stdout, &stderr
		if err := c.Run(); err != nil {
			t.Fatalf("exit %v, want 0 (invalid, as expected)\n%s\n%s", err, &stdout, &stderr)
		}
		if !strings.Contains(stderr.String(), "the nemesis runs in helper containers: this process lacks CAP_SYS_ADMIN and CAP_NET_ADMIN") {
			t.Errorf("the log does not say why helpers run the nemesis:\n%s", &stderr)
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
	})

	t.Run("SIGKILL and clean", func(t *testing.T) {
		c := u.cmd("run", "-store", filepath.Join(u.dir, "store-kill"), scenario)
		stderr, err := c.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		runID := ""
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if id := runIDIn(sc.Text()); id != "" && runID == "" {
				runID = id
			}
			if strings.Contains(sc.Text(), "fault isolate") {
				c.Process.Kill()
				break
			}
		}
		c.Wait()
		if runID == "" {
			t.Fatal("no run id, or no fault, before the kill")
		}
		// The helpers' input ended with the controller: they heal and go.
		deadline := time.Now().Add(20 * time.Second)
		var nodes []nemesis.Node
		for {
			helpers := 0
			for _, l := range leftoversOf(t, runID) {
				if l.Helper {
					helpers++
				}
			}
			nodes = runNodes(t, runID)
			if helpers == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d helpers still there 20 s after their controller died", helpers)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if len(nodes) != 3 {
			t.Fatalf("%d nodes running after the kill, want 3", len(nodes))
		}
		for _, n := range nodes {
			if rules, _, err := nemesis.Installed(n.NetNS); err != nil || rules {
				t.Errorf("%s keeps faultline's table after its helper went (%v)", n.Name, err)
			}
		}
		start := time.Now()
		out, err := u.cmd("clean").CombinedOutput()
		if err != nil {
			t.Fatalf("faultline clean as the same user: %v\n%s", err, out)
		}
		t.Logf("faultline clean after SIGKILL in helper mode: %v\n%s", time.Since(start).Round(time.Millisecond), out)
		for _, l := range leftoversOf(t, runID) {
			t.Errorf("left after clean: %s %s", l.Kind, l.Name)
		}
	})
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
	scenario := filepath.Join(u.dir, "stale.yaml")
	b, err := os.ReadFile("../../scenarios/etcd-stale-reads.yaml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(scenario, b, 0o644)

	t.Run("stale reads", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		c := u.isolated("run", "-store", filepath.Join(u.dir, "store-isolated"), scenario)
		c.Stdout, c.Stderr = &stdout, &stderr
		if err := c.Run(); err != nil {
			t.Fatalf("exit %v, want 0 (invalid, as expected)\n%s\n%s", err, &stdout, &stderr)
		}
		for _, want := range []string{"the nemesis runs in helper containers", "the clients run in a container on the run's network: this host does not reach the nodes' addresses"} {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("the log does not say %q:\n%s", want, &stderr)
			}
		}
		// The results and the report say how the run reached its nodes.
		dirs, _ := filepath.Glob(filepath.Join(u.dir, "store-isolated", "*", "*", "results.json"))
		if len(dirs) != 1 {
			t.Fatalf("results.json: %v", dirs)
		}
		res, _ := os.ReadFile(dirs[0])
		page, _ := os.ReadFile(filepath.Join(filepath.Dir(dirs[0]), "report.html"))
		if !strings.Contains(string(res), `"nemesis": "helper"`) || !strings.Contains(string(res), `"clients": "network"`) ||
			!strings.Contains(string(page), "clients in a container on the run&#39;s network") {
			t.Errorf("results.json or the report does not say how the run reached its nodes:\n%s", res)
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
	})

	t.Run("SIGKILL and clean", func(t *testing.T) {
		c := u.isolated("run", "-store", filepath.Join(u.dir, "store-isolated-kill"), scenario)
		stderr, err := c.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		runID := ""
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if id := runIDIn(sc.Text()); id != "" && runID == "" {
				runID = id
			}
			if strings.Contains(sc.Text(), "fault isolate") {
				c.Process.Kill() // unshare, and with it (--kill-child) the controller
				break
			}
		}
		c.Wait()
		if runID == "" {
			t.Fatal("no run id, or no fault, before the kill")
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			left := 0
			for _, l := range leftoversOf(t, runID) {
				if l.Helper || strings.Contains(l.Name, "-clients-") {
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
		for _, n := range runNodes(t, runID) {
			if table, _, err := nemesis.Installed(n.NetNS); err != nil || table {
				t.Errorf("%s keeps faultline's table after its helper went (%v)", n.Name, err)
			}
		}
		out, err := u.isolated("clean").CombinedOutput()
		if err != nil {
			t.Fatalf("faultline clean from the same place: %v\n%s", err, out)
		}
		for _, l := range leftoversOf(t, runID) {
			t.Errorf("left after clean: %s %s", l.Kind, l.Name)
		}
	})
}
