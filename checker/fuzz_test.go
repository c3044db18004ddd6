package checker_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
)

// FuzzCheck: whatever history the decoder accepts, every model either
// checks it or rejects it with an error; none panics or hangs past its
// budget.
func FuzzCheck(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.jsonl")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil && len(b) < 1<<14 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := history.Read(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, model := range []string{"register", "cas-register", "append", "set", "counter"} {
			began := time.Now()
			res, err := checker.Check(recs, named(t, model), checker.Options{Budget: 200 * time.Millisecond, VisualizeDir: t.TempDir()})
			if err == nil && res.Verdict == "" {
				t.Fatalf("%s: no verdict and no error", model)
			}
			if d := time.Since(began); d > 5*time.Second {
				t.Fatalf("%s: took %v with a 200ms budget", model, d)
			}
		}
	})
}
