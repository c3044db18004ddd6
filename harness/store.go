package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// newStoreDir creates root/<scenario>/<run id>/ and points root/latest at
// it: the folder is named as the run is (its UTC start and a random
// suffix, so no two runs share one).
func newStoreDir(root, scenario, runID string) (string, error) {
	base := filepath.Join(root, scenario)
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", fmt.Errorf("create store: %w", err)
	}
	name := runID
	if err := os.Mkdir(filepath.Join(base, name), 0o755); err != nil {
		return "", fmt.Errorf("create store: %w", err)
	}
	dir := filepath.Join(base, name)
	// Replace the latest link atomically: make a new one, rename it over.
	link := filepath.Join(root, "latest")
	tmp := link + ".tmp"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return dir, fmt.Errorf("link latest run: %w", err)
	}
	if err := os.Symlink(filepath.Join(scenario, name), tmp); err != nil {
		return dir, fmt.Errorf("link latest run: %w", err)
	}
	if err := os.Rename(tmp, link); err != nil {
		return dir, fmt.Errorf("link latest run: %w", err)
	}
	return dir, nil
}

// writeJSON writes v as indented JSON to path.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
