package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Files in a run's store folder.
const (
	ScenarioFile = "scenario.yaml"
	HistoryFile  = "history.jsonl"
	ResultsFile  = "results.json"
	NodesDir     = "nodes"
	// ReplayFile is the scenario with the faults the run applied as an
	// explicit timeline: running it replays the run.
	ReplayFile = "replay.yaml"
)

// newStoreDir creates root/<scenario>/<UTC timestamp>/ and points
// root/latest at it. A second run within the same second gets a suffix.
func newStoreDir(root, scenario string, now time.Time) (string, error) {
	base := filepath.Join(root, scenario)
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", fmt.Errorf("create store: %w", err)
	}
	stamp := now.UTC().Format("20060102T150405Z")
	name := stamp
	for i := 2; ; i++ {
		err := os.Mkdir(filepath.Join(base, name), 0o755)
		if err == nil {
			break
		}
		if !os.IsExist(err) {
			return "", fmt.Errorf("create store: %w", err)
		}
		name = fmt.Sprintf("%s-%d", stamp, i)
	}
	dir := filepath.Join(base, name)
	// Replace the latest link atomically: make a new one, rename it over.
	link := filepath.Join(root, "latest")
	tmp := link + ".tmp"
	os.Remove(tmp)
	if err := os.Symlink(filepath.Join(scenario, name), tmp); err != nil {
		return dir, fmt.Errorf("link latest run: %w", err)
	}
	if err := os.Rename(tmp, link); err != nil {
		return dir, fmt.Errorf("link latest run: %w", err)
	}
	return dir, nil
}
