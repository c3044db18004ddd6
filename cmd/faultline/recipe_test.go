package main

import (
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/faultline/faultline/internal/testenv"
)

// TestCIRecipe runs the GitHub Actions workflow of docs/ci.md as a runner
// would: its `run:` steps in order, each in bash -e, from a clean working
// folder; what sudo runs gets sudo's PATH (no Go toolchain), so the run
// must need none once the images are built by the earlier step. The job
// must come out green on a correct build, with a JUnit file naming every
// shipped scenario and a job summary. (`uses:` steps are GitHub's
// actions: checkout, setup-go, uploads; they are not run here.)
func TestCIRecipe(t *testing.T) {
	testenv.EndToEnd(t)
	doc, err := os.ReadFile("../../docs/ci.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?ms)^```yaml\n(name: .*?)^```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/ci.md has no workflow")
	}
	var wf struct {
		Jobs map[string]struct {
			Steps []struct {
				Name string `yaml:"name"`
				Run  string `yaml:"run"`
				If   string `yaml:"if"`
				Uses string `yaml:"uses"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(m[1], &wf); err != nil || len(wf.Jobs) != 1 {
		t.Fatalf("the workflow does not parse (%d jobs): %v\n%s", len(wf.Jobs), err, m[1])
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// The runner's checkout: a copy of the repository's files (tracked,
	// and new ones git does not ignore), nothing the job writes.
	work := t.TempDir()
	ls := exec.Command("git", "ls-files", "-co", "--exclude-standard")
	ls.Dir = root
	list, err := ls.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, f := range strings.Split(strings.TrimSpace(string(list)), "\n") {
		src := filepath.Join(root, f)
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the working tree, or a link
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(work, f)
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if err := os.WriteFile(dst, b, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	summary := filepath.Join(t.TempDir(), "step-summary.md")
	for _, job := range wf.Jobs {
		for i, st := range job.Steps {
			if st.Run == "" {
				continue
			}
			script := st.Run
			env := append(os.Environ(), "GITHUB_STEP_SUMMARY="+summary)
			if strings.Contains(script, "sudo ") {
				// sudo resets PATH to its secure_path: no setup-go.
				script = strings.ReplaceAll(script, "sudo ", "")
				env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + os.Getenv("HOME"), "GITHUB_STEP_SUMMARY=" + summary}
			}
			cmd := exec.Command("bash", "-e", "-c", script)
			cmd.Dir, cmd.Env = work, env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("step %d (%s): %v\n%s", i, st.Name, err, out)
			}
			t.Logf("step %d (%s): ok", i, st.Name)
		}
	}
	b, err := os.ReadFile(filepath.Join(work, "faultline-junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var suites junitSuites
	if err := xml.Unmarshal(b, &suites); err != nil || len(suites.Suites) != 1 {
		t.Fatalf("junit: %v", err)
	}
	shipped, _ := filepath.Glob(filepath.Join(root, "scenarios", "*.yaml"))
	if s := suites.Suites[0]; s.Tests != len(shipped) || s.Failures+s.Errors != 0 {
		t.Errorf("junit: %d tests (%d shipped scenarios), %d failures, %d errors", s.Tests, len(shipped), s.Failures, s.Errors)
	}
	if md, err := os.ReadFile(summary); err != nil || !strings.Contains(string(md), "0 not as expected") {
		t.Errorf("job summary (%v):\n%s", err, md)
	}
}
