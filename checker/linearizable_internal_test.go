package checker

import (
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/history"
)

func TestVisualizationFileStaysInItsFolder(t *testing.T) {
	seen := map[string]string{}
	for _, key := range []string{"k0", "../../etc/passwd", "a/b", "a_b", "/abs", "..", strings.Repeat("x", 500), "naïve key"} {
		name := visualizationFile(key)
		if strings.ContainsAny(name, "/\\\x00") || strings.HasPrefix(name, ".") || len(name) > 230 {
			t.Errorf("%q -> %q", key, name)
		}
		if other, dup := seen[name]; dup {
			t.Errorf("%q and %q share %q", key, other, name)
		}
		seen[name] = key
	}
	if got := visualizationFile("k0"); got != "key-k0.html" {
		t.Errorf("plain key: %q", got)
	}
}

// linearizableOnly is the linearizability check alone, its verdict the
// keys': the baseline the benchmarks put the whole table beside.
func linearizableOnly(recs []history.Record, w *Workload, opts Options) (Result, error) {
	began := time.Now()
	h, err := read(recs, w)
	if err != nil {
		return Result{}, err
	}
	res := h.linearizability(w, opts, began)
	res.Verdict = Valid
	for _, k := range res.Keys {
		switch {
		case k.Verdict == Invalid:
			res.Verdict = Invalid
		case k.Verdict == Unknown && res.Verdict == Valid:
			res.Verdict = Unknown
		}
	}
	res.DurationMS = time.Since(began).Milliseconds()
	return res, nil
}
