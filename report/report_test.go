package report_test

import (
	"compress/gzip"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/report"
)

// render writes the report of the recorded stale-reads run into a folder.
func render(t *testing.T) string {
	t.Helper()
	f, err := os.Open("../checker/testdata/etcd-stale-reads.jsonl.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := history.Read(zr)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	res, err := checker.Check(recs, checker.Register, checker.Options{Budget: time.Minute, VisualizeDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "nodes"), 0o755)
	os.WriteFile(filepath.Join(dir, "nodes", "n1.log"), []byte("log"), 0o644)
	path := filepath.Join(dir, report.File)
	err = report.Write(path, report.Input{Scenario: "etcd-stale-reads", System: "etcd from built-in systems/etcd/system.yaml: n1, n2, n3", Seed: 42, RunID: "r1", ScenarioYAML: []byte("seed: 42\n"), Result: res, Records: recs, Dir: dir, Clients: 6})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReportContent(t *testing.T) {
	b, err := os.ReadFile(render(t))
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	for _, want := range []string{
		`class="verdict invalid">INVALID<`, "seed 42", "cannot linearize read()", `href="key-k0.html"`, `href="nodes/n1.log"`,
		"Fault timeline", "Latency of every operation", "Operations completed per second", "Latency quantiles of successful operations", "Successful operations per second, by operation", "udp/47001: from \\ to",
		"verified: every node reached every other", "faultline replay", "<h2>Outcomes</h2>",
		"<th>system</th><td>etcd from built-in systems/etcd/system.yaml: n1, n2, n3</td>",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// One SVG, its charts on one time axis.
	if n := strings.Count(html, "<svg"); n != 1 {
		t.Errorf("%d inline SVGs, want 1 (the charts, aligned)", n)
	}
	// Self-contained: no scripts, stylesheets or images from anywhere else.
	for _, bad := range []string{"<script", "<link", `src="http`, `href="http`, "url(http"} {
		if strings.Contains(html, bad) {
			t.Errorf("report is not self-contained: it has %q", bad)
		}
	}
}

// TestReportInBrowser opens the report in headless Chromium and reads the
// page it rendered: the verdict and the charts must be on it.
func TestReportInBrowser(t *testing.T) {
	testenv.EndToEnd(t)
	browser := headless(t)
	path := render(t)
	out, err := exec.Command(browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", "file://"+path).Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	dom := string(out)
	if !strings.Contains(dom, `id="verdict" class="verdict invalid">INVALID</span>`) {
		t.Errorf("rendered page lacks the verdict")
	}
	if n := strings.Count(dom, "<svg"); n != 1 {
		t.Errorf("rendered page has %d chart images, want 1", n)
	}
	shot := filepath.Join(filepath.Dir(path), "report.png")
	if err := exec.Command(browser, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1100,2000", "--screenshot="+shot, "file://"+path).Run(); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 20_000 {
		t.Errorf("screenshot of the report: %v (%d bytes)", err, fi.Size())
	}
}

// TestTimelineInBrowser opens timeline.html in headless Chromium at two
// widths: its script must draw a page of operations (every one of the
// first page a bar with its tooltip), name the page, and go to the page a
// link's time asks for.
func TestTimelineInBrowser(t *testing.T) {
	testenv.EndToEnd(t)
	browser := headless(t)
	path := filepath.Join(filepath.Dir(render(t)), report.TimelineFile)
	dom := func(url string) string {
		out, err := exec.Command(browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", url).Output()
		if err != nil {
			t.Fatalf("chromium: %v", err)
		}
		return string(out)
	}
	first := dom("file://" + path)
	if !strings.Contains(first, "operations 1 to 1000 of ") {
		t.Errorf("the first page does not say which operations it draws:\n%.2000s", first)
	}
	if n := strings.Count(first, "history record "); n < 1000 {
		t.Errorf("the first page draws %d operations with their records, want at least 1000", n)
	}
	if !strings.Contains(first, "partition isolate") {
		t.Errorf("the timeline names no fault")
	}
	if second := dom("file://" + path + "#p=2"); !strings.Contains(second, "operations 1001 to 2000 of ") {
		t.Errorf("#p=2 did not draw the second page")
	}
	// A time goes to the page whose span holds it.
	for _, at := range []float64{5, 15.4, 20} {
		m := regexp.MustCompile(`aria-label="operations from ([0-9.]+) s to ([0-9.]+) s"`).FindStringSubmatch(dom(fmt.Sprintf("file://%s#t=%g", path, at)))
		if m == nil {
			t.Errorf("#t=%g drew no page", at)
			continue
		}
		t0, _ := strconv.ParseFloat(m[1], 64)
		t1, _ := strconv.ParseFloat(m[2], 64)
		if at < t0 || at >= t1 {
			t.Errorf("#t=%g drew the page from %g s to %g s", at, t0, t1)
		}
	}
	for _, w := range []string{"1300,900", "700,900"} {
		shot := filepath.Join(filepath.Dir(path), "timeline-"+w+".png")
		if err := exec.Command(browser, "--headless", "--no-sandbox", "--disable-gpu", "--window-size="+w, "--screenshot="+shot, "file://"+path).Run(); err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		if fi, err := os.Stat(shot); err != nil || fi.Size() < 20_000 {
			t.Errorf("screenshot of the timeline at %s: %v", w, err)
		}
	}
}

func headless(t *testing.T) string {
	for _, b := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(b); err == nil {
			return p
		}
	}
	t.Fatal("no headless browser: install chromium (make test does: apt-get install chromium)")
	return ""
}

// A run stopped early has few records, or none: its report must still draw.
func TestReportOfARunStoppedEarly(t *testing.T) {
	histories := map[string]string{
		"empty":      "",
		"one invoke": `{"index":0,"process":0,"type":"invoke","f":"read","key":"k","time":1000}`,
		"one zero-latency op": `{"index":0,"process":0,"type":"invoke","f":"read","key":"k","time":1000}
{"index":1,"process":0,"type":"ok","f":"read","key":"k","value":null,"time":1000}`,
		"only a fault": `{"index":0,"process":"nemesis","type":"info","f":"partition","time":1000}`,
	}
	for name, h := range histories {
		recs, err := history.Read(strings.NewReader(h))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		path := filepath.Join(t.TempDir(), report.File)
		if err := report.Write(path, report.Input{Scenario: "s", Records: recs, Error: "run interrupted"}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
