package systems_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/faultline/faultline/systems"
)

var three = systems.Cluster{Names: []string{"n1", "n2", "n3"}, Addrs: []string{"10.213.0.11", "10.213.0.12", "10.213.0.13"}, RunID: "r1"}

// TestBuiltinEtcd: etcd's system file renders the command line faultline
// gave etcd before systems were data, flag for flag.
func TestBuiltinEtcd(t *testing.T) {
	d, err := systems.Builtin("etcd")
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := d.Render(three)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"--name=n2",
		"--data-dir=/data",
		"--listen-client-urls=http://0.0.0.0:2379",
		"--advertise-client-urls=http://10.213.0.12:2379",
		"--listen-peer-urls=http://0.0.0.0:2380",
		"--initial-advertise-peer-urls=http://10.213.0.12:2380",
		"--initial-cluster=n1=http://10.213.0.11:2380,n2=http://10.213.0.12:2380,n3=http://10.213.0.13:2380",
		"--initial-cluster-state=new",
		"--initial-cluster-token=faultline-r1",
		"--heartbeat-interval=100",
		"--election-timeout=1000",
		"--logger=zap",
		"--log-outputs=stderr",
	}
	if !slices.Equal(nodes[1].Command, want) {
		t.Errorf("n2's command line:\n%q\nwant\n%q", nodes[1].Command, want)
	}
	if nodes[1].Endpoint != "http://10.213.0.12:2379" || nodes[1].Data != "/data" {
		t.Errorf("endpoint %q, data %q", nodes[1].Endpoint, nodes[1].Data)
	}
	if d.Build == nil || !filepath.IsAbs(d.Build.Context) || d.Build.Prepare == nil {
		t.Fatalf("etcd's image is built from its context with a prepare step: %+v", d.Build)
	}
	cmd, err := d.Build.Prepare.Cmd(context.Background(), d.Build.Context, "/tmp/out")
	if err != nil || !slices.Contains(cmd.Args, "/tmp/out/etcd") || cmd.Dir != d.Build.Context || !slices.Contains(cmd.Env, "CGO_ENABLED=0") {
		t.Errorf("prepare: %v %v in %s", cmd.Args, err, cmd.Dir)
	}
	ports, err := d.ResolvePorts([]string{"peer", "client", "9100-9105"})
	if err != nil || len(ports) != 3 || ports[0] != (systems.PortRange{Lo: 2380, Hi: 2380}) || ports[2] != (systems.PortRange{Lo: 9100, Hi: 9105}) {
		t.Errorf("ports: %v %v", ports, err)
	}
}

func TestBuiltinRefKV(t *testing.T) {
	d, err := systems.Builtin("refkv")
	if err != nil {
		t.Fatal(err)
	}
	c := three
	c.Params = map[string]string{"bug": "split-brain"}
	nodes, err := d.Render(c)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"-id", "n3", "-peers", "n1=10.213.0.11,n2=10.213.0.12,n3=10.213.0.13", "-bug", "split-brain"}
	if !slices.Equal(nodes[2].Command, want) {
		t.Errorf("n3's command line %q, want %q", nodes[2].Command, want)
	}
	nodes, _ = d.Render(three)
	if nodes[0].Command[5] != "none" {
		t.Errorf("the bug param's default: %q", nodes[0].Command[5])
	}
	if d.Supports.CanKill() || !d.Supports.CanPause() || d.Leader == nil || d.Leader.HTTP == nil || d.Ready == nil || d.Ready.HTTP == nil {
		t.Errorf("refkv supports/leader/ready: %+v %+v %+v", d.Supports, d.Leader, d.Ready)
	}
}

func TestUnknownBuiltin(t *testing.T) {
	if _, err := systems.Builtin("zookeeper"); err == nil || !strings.Contains(err.Error(), "built in: etcd, refkv") {
		t.Errorf("unknown system: %v", err)
	}
}

func TestPortRanges(t *testing.T) {
	for in, want := range map[string]string{"2380": "2380", "9100-9105": "9100-9105", " 1 - 2 ": "1-2"} {
		r, err := systems.ParsePortRange(in)
		if err != nil || r.String() != want {
			t.Errorf("%q: %v %v", in, r, err)
		}
	}
	for _, bad := range []string{"0", "65536", "9-1", "peer", "1-x", ""} {
		if _, err := systems.ParsePortRange(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestSystemFileStandalone: a system file loads on its own with its errors
// naming its own lines.
func TestSystemFileStandalone(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mydb.yaml")
	os.WriteFile(path, []byte("image: x/y:1\nready:\n  http: {port: 70000}\n"), 0o644)
	_, err := systems.Load(path)
	if err == nil || !strings.Contains(err.Error(), path+":3:10: ready.http.port: port 70000 is not between 1 and 65535") {
		t.Errorf("error: %v", err)
	}
	os.WriteFile(path, []byte("image: x/y:1\nlogs: [relative.log]\n"), 0o644)
	if _, err = systems.Load(path); err == nil || !strings.Contains(err.Error(), ":2:8: logs[0]: \"relative.log\" must be an absolute path") {
		t.Errorf("error: %v", err)
	}
	os.WriteFile(path, []byte("image: x/y:1\nleader: {http: {port: 80, path: /s}}\n"), 0o644)
	if _, err = systems.Load(path); err == nil || !strings.Contains(err.Error(), "leader.http.field: names the JSON field") {
		t.Errorf("error: %v", err)
	}
	os.WriteFile(path, []byte("image: x/y:1\n"), 0o644)
	d, err := systems.Load(path)
	if err != nil || d.Name != "mydb" {
		t.Errorf("name from the file: %v %v", d, err)
	}
}

// TestSystemFileEveryProblem: a system file's problems are all listed, in
// file order, each with its line and column.
func TestSystemFileEveryProblem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mydb.yaml")
	os.WriteFile(path, []byte("name: \"bad name\"\nimage: \"\"\ndata: rel\nlogs: [a, /ok, b]\nsupports: {reads: [fast]}\n"), 0o644)
	_, err := systems.Load(path)
	if err == nil {
		t.Fatal("accepted")
	}
	want := []string{
		path + ":1:1: name:",
		path + ":2:1: image: is required",
		path + ":3:1: data:",
		path + ":4:8: logs[0]:",
		path + ":4:16: logs[2]:",
		path + ":5:20: supports.reads[0]:",
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want)+1 || !errors.Is(err, systems.ErrInvalid) {
		t.Fatalf("want %d problems wrapping ErrInvalid:\n%v", len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i+1], w) {
			t.Errorf("problem %d: %q, want it to begin %q", i, lines[i+1], w)
		}
	}
}
