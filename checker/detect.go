package checker

import (
	"errors"
	"time"

	"github.com/faultline/faultline/history"
)

// Detection is what a checked history showed of a bug: whether, and how
// soon, it was proven invalid (the figures of `make bench-detect`).
type Detection struct {
	Verdict Verdict
	// Detected: the history was proven not linearizable.
	Detected bool
	// After is the time from the workload's first operation to the
	// completion of the earliest operation the checker could not
	// linearize (set when Detected).
	After time.Duration
	// FirstFault is when the first fault began, on the same clock.
	FirstFault time.Duration
}

// Detect reads a history and its result: whether, and how soon, it was
// proven invalid.
func Detect(records []history.Record, res Result) (Detection, error) {
	d := Detection{Verdict: res.Verdict, Detected: res.Verdict == Invalid}
	start := time.Duration(-1)
	for _, r := range records {
		if r.Type == history.Invoke && start < 0 {
			start = time.Duration(r.Time)
		}
	}
	if start < 0 {
		return d, errors.New("detect: the history has no operations")
	}
	if w := history.FaultWindows(records); len(w) > 0 {
		d.FirstFault = time.Duration(w[0].Start) - start
	}
	if !d.Detected {
		return d, nil
	}
	first := -1.0
	for _, k := range res.Keys {
		if k.Verdict != Invalid || k.Explanation == nil || k.Explanation.Operation.Completed < 0 {
			continue
		}
		if c := k.Explanation.Operation.Completed; first < 0 || c < first {
			first = c
		}
	}
	if first < 0 {
		return d, errors.New("detect: the history is invalid but names no failing operation")
	}
	d.After = time.Duration(first*float64(time.Second)) - start
	return d, nil
}
