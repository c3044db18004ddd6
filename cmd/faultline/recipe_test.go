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

// TestCIRecipe runs the CI recipes of docs/ci.md as a runner would, each
// from a clean copy of the checkout: the GitHub Actions workflow's `run:`
// steps in order, each in bash -e, and the GitLab job's `script` lines,
// then its `after_script`. What sudo runs gets sudo's PATH (no Go
// toolchain), so the run must need none once the images are built by the
// earlier step. Each job must come out green on a correct build, with a
// JUnit file naming every shipped scenario and a summary. (`uses:` steps
// are GitHub's actions: checkout, setup-go, uploads; GitLab's artifacts
// are its server's: they are not run here.)
func TestCIRecipe(t *testing.T) {
	testenv.EndToEnd(t)
	doc, err := os.ReadFile("../../docs/ci.md")
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	shipped, _ := filepath.Glob(filepath.Join(root, "scenarios", "*.yaml"))

	t.Run("github", func(t *testing.T) {
		var wf struct {
			Jobs map[string]struct {
				Steps []struct {
					Name string `yaml:"name"`
					Run  string `yaml:"run"`
				} `yaml:"steps"`
			} `yaml:"jobs"`
		}
		recipe(t, doc, "# .github/workflows/nightly-chaos.yml", &wf)
		if len(wf.Jobs) != 1 {
			t.Fatalf("the workflow has %d jobs, want 1", len(wf.Jobs))
		}
		work := checkout(t, root)
		summary := filepath.Join(t.TempDir(), "step-summary.md")
		for _, job := range wf.Jobs {
			for i, st := range job.Steps {
				if st.Run != "" {
					runStep(t, work, st.Run, "GITHUB_STEP_SUMMARY="+summary)
					t.Logf("step %d (%s): ok", i, st.Name)
				}
			}
		}
		green(t, filepath.Join(work, "faultline-junit.xml"), summary, len(shipped))
	})

	t.Run("gitlab", func(t *testing.T) {
		var ci map[string]struct {
			Script      []string `yaml:"script"`
			AfterScript []string `yaml:"after_script"`
			Artifacts   struct {
				Reports struct {
					JUnit string `yaml:"junit"`
				} `yaml:"reports"`
			} `yaml:"artifacts"`
		}
		recipe(t, doc, "# .gitlab-ci.yml", &ci)
		if len(ci) != 1 {
			t.Fatalf("the pipeline has %d jobs, want 1", len(ci))
		}
		work := checkout(t, root)
		for _, job := range ci {
			for _, line := range job.Script {
				runStep(t, work, line)
				t.Logf("script: %s: ok", line)
			}
			for _, line := range job.AfterScript {
				runStep(t, work, line)
			}
			green(t, filepath.Join(work, job.Artifacts.Reports.JUnit), filepath.Join(work, "faultline-summary.md"), len(shipped))
		}
	})
}

// recipe finds the YAML block of docs/ci.md whose first line is first and
// decodes it into v.
func recipe(t *testing.T, doc []byte, first string, v any) {
	t.Helper()
	m := regexp.MustCompile("(?ms)^```yaml\n(" + regexp.QuoteMeta(first) + "\n.*?)^```").FindSubmatch(doc)
	if m == nil {
		t.Fatalf("docs/ci.md has no recipe beginning %q", first)
	}
	if err := yaml.Unmarshal(m[1], v); err != nil {
		t.Fatalf("the recipe does not parse: %v\n%s", err, m[1])
	}
}

// checkout copies the repository's files (tracked, and new ones git does
// not ignore) into a fresh folder, as a runner's checkout: nothing a job
// wrote. (A copy, not links: Docker build contexts must be in the tree.)
func checkout(t *testing.T, root string) string {
	t.Helper()
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
	return work
}

// runStep runs a step's script in bash -e in work. A script that uses
// sudo gets what sudo leaves it: its secure_path, no setup-go, HOME, and
// the CI's variables given.
func runStep(t *testing.T, work, script string, vars ...string) {
	t.Helper()
	env := append(os.Environ(), vars...)
	if strings.Contains(script, "sudo ") {
		script = strings.ReplaceAll(script, "sudo ", "")
		env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + os.Getenv("HOME")}, vars...)
	}
	cmd := exec.Command("bash", "-e", "-c", script)
	cmd.Dir, cmd.Env = work, env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
}

// green wants the job's JUnit file to hold a passing case per shipped
// scenario and its summary to say none was not as expected.
func green(t *testing.T, junit, summary string, scenarios int) {
	t.Helper()
	b, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var suites junitSuites
	if err := xml.Unmarshal(b, &suites); err != nil || len(suites.Suites) != 1 {
		t.Fatalf("junit: %v", err)
	}
	if s := suites.Suites[0]; s.Tests != scenarios || s.Failures+s.Errors != 0 {
		t.Errorf("junit: %d tests (%d shipped scenarios), %d failures, %d errors", s.Tests, scenarios, s.Failures, s.Errors)
	}
	if md, err := os.ReadFile(summary); err != nil || !strings.Contains(string(md), "0 not as expected") {
		t.Errorf("job summary (%v):\n%s", err, md)
	}
}
