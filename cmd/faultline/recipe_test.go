package main

import (
	"encoding/xml"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/faultline/faultline/internal/testenv"
)

// TestCIRecipe runs the CI pipelines of docs/ci.md as their runners would,
// each job from a clean copy of the checkout: GitHub's matrix expanded,
// its `run:` steps in bash -e, artifacts handed from upload to download
// steps as their parameters say; GitLab's stages in order, `parallel`
// expanded with CI_NODE_INDEX and CI_NODE_TOTAL, `script` then
// `after_script`, each job's artifacts handed to the later stages. What
// sudo runs gets sudo's PATH (no Go toolchain), so a run must need none
// once the images are built by the earlier step. Each pipeline must come
// out green on a correct build, its merged JUnit file naming every
// scenario it ran and its summary saying none was not as expected:
// GitHub's every shipped scenario, GitLab's two of them (one valid, one
// invalid as expected) in a checkout holding only those, since what it
// adds is GitLab's own mechanics and every scenario takes its time again.
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
				Needs    string `yaml:"needs"`
				Strategy struct {
					Matrix map[string][]any `yaml:"matrix"`
				} `yaml:"strategy"`
				Steps []struct {
					Name string         `yaml:"name"`
					Run  string         `yaml:"run"`
					Uses string         `yaml:"uses"`
					With map[string]any `yaml:"with"`
				} `yaml:"steps"`
			} `yaml:"jobs"`
		}
		recipe(t, doc, "# .github/workflows/nightly-chaos.yml", &wf)
		// Jobs that need none first, then the others.
		names := slices.Collect(func(yield func(string) bool) {
			for n := range wf.Jobs {
				if !yield(n) {
					return
				}
			}
		})
		slices.SortFunc(names, func(a, b string) int {
			return strings.Compare(wf.Jobs[a].Needs+a, wf.Jobs[b].Needs+b)
		})
		artifacts := map[string]string{} // name: the folder or file uploaded
		summary := filepath.Join(t.TempDir(), "step-summary.md")
		var last string
		for _, name := range names {
			job := wf.Jobs[name]
			if len(job.Strategy.Matrix) > 1 {
				t.Fatalf("job %s: the test expands a matrix of one dimension", name)
			}
			instances := []map[string]string{{}}
			for k, vs := range job.Strategy.Matrix {
				instances = nil
				for _, v := range vs {
					instances = append(instances, map[string]string{k: fmt.Sprint(v)})
				}
			}
			for _, matrix := range instances {
				work := checkout(t, root)
				expand := func(s string) string {
					for k, v := range matrix {
						s = strings.ReplaceAll(s, "${{ matrix."+k+" }}", v)
					}
					if strings.Contains(s, "${{") {
						t.Fatalf("job %s: an expression the test cannot expand: %s", name, s)
					}
					return s
				}
				for i, st := range job.Steps {
					switch {
					case st.Run != "":
						runStep(t, work, expand(st.Run), "GITHUB_STEP_SUMMARY="+summary)
					case strings.HasPrefix(st.Uses, "actions/upload-artifact@"):
						artifacts[expand(fmt.Sprint(st.With["name"]))] = filepath.Join(work, expand(fmt.Sprint(st.With["path"])))
					case strings.HasPrefix(st.Uses, "actions/download-artifact@"):
						pattern := expand(fmt.Sprint(st.With["pattern"]))
						for a, from := range artifacts {
							if ok, _ := filepath.Match(pattern, a); ok {
								copyTree(t, from, filepath.Join(work, a))
							}
						}
					default:
						continue // checkout, setup-go, the JUnit report: GitHub's
					}
					t.Logf("job %s %v, step %d (%s): ok", name, matrix, i, cmpOr(st.Name, st.Run, st.Uses))
				}
				last = work
			}
		}
		green(t, filepath.Join(last, "faultline-junit.xml"), summary, len(shipped))
	})

	t.Run("gitlab", func(t *testing.T) {
		var pipeline map[string]any
		recipe(t, doc, "# .gitlab-ci.yml", &pipeline)
		type glJob struct {
			Stage       string   `yaml:"stage"`
			Parallel    int      `yaml:"parallel"`
			Script      []string `yaml:"script"`
			AfterScript []string `yaml:"after_script"`
			Artifacts   struct {
				Paths   []string `yaml:"paths"`
				Reports struct {
					JUnit string `yaml:"junit"`
				} `yaml:"reports"`
			} `yaml:"artifacts"`
		}
		var stages []string
		jobs := map[string]glJob{}
		for k, v := range pipeline {
			b, _ := yaml.Marshal(v)
			if k == "stages" {
				yaml.Unmarshal(b, &stages)
				continue
			}
			var j glJob
			if err := yaml.Unmarshal(b, &j); err != nil {
				t.Fatalf("job %s: %v", k, err)
			}
			jobs[k] = j
		}
		type artifact struct{ work, rel string } // a path in a job's folder
		var artifacts []artifact                 // from earlier stages
		var junit, summary string
		for _, stage := range stages {
			var produced []artifact
			for name, job := range jobs {
				if job.Stage != stage {
					continue
				}
				for i := 1; i <= max(job.Parallel, 1); i++ {
					work := checkout(t, root)
					for _, f := range shipped {
						if !slices.Contains(gitlabRuns, filepath.Base(f)) {
							os.Remove(filepath.Join(work, "scenarios", filepath.Base(f)))
						}
					}
					for _, a := range artifacts {
						copyTree(t, filepath.Join(a.work, a.rel), filepath.Join(work, a.rel))
					}
					vars := []string{fmt.Sprintf("CI_NODE_INDEX=%d", i), fmt.Sprintf("CI_NODE_TOTAL=%d", max(job.Parallel, 1))}
					for _, line := range append(slices.Clone(job.Script), job.AfterScript...) {
						runStep(t, work, line, vars...)
						t.Logf("job %s %d/%d: %s: ok", name, i, max(job.Parallel, 1), line)
					}
					for _, p := range job.Artifacts.Paths {
						p = strings.NewReplacer("$CI_NODE_INDEX", vars[0][len("CI_NODE_INDEX="):], "$CI_NODE_TOTAL", vars[1][len("CI_NODE_TOTAL="):]).Replace(p)
						matches, _ := filepath.Glob(filepath.Join(work, strings.TrimSuffix(p, "/")))
						for _, m := range matches {
							rel, _ := filepath.Rel(work, m)
							produced = append(produced, artifact{work, rel})
						}
					}
					if job.Artifacts.Reports.JUnit != "" {
						junit, summary = filepath.Join(work, job.Artifacts.Reports.JUnit), filepath.Join(work, "faultline-summary.md")
					}
				}
			}
			artifacts = append(artifacts, produced...)
		}
		if junit == "" {
			t.Fatal("no job of the pipeline reports JUnit")
		}
		green(t, junit, summary, len(gitlabRuns))
	})
}

// gitlabRuns are the shipped scenarios the GitLab pipeline runs.
var gitlabRuns = []string{"etcd-register.yaml", "etcd-stale-reads.yaml"}

func cmpOr(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
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
		copyFile(t, src, filepath.Join(work, f), fi.Mode().Perm())
	}
	return work
}

func copyFile(t *testing.T, src, dst string, perm fs.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(dst), 0o755)
	if err := os.WriteFile(dst, b, perm); err != nil {
		t.Fatal(err)
	}
}

// copyTree copies a file or folder (an artifact) to dst; links are left out,
// as artifact uploads leave them.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(src, p)
		fi, _ := d.Info()
		copyFile(t, p, filepath.Join(dst, rel), fi.Mode().Perm())
		return nil
	})
	if err != nil {
		t.Fatalf("artifact %s: %v", src, err)
	}
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

// green wants the pipeline's JUnit file to hold a passing case per
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
