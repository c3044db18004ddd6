package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/scenarios"
)

// ShrinkFile is the smallest failing scenario Shrink found.
const ShrinkFile = "shrunk.yaml"

// ShrinkOptions bound a shrink.
type ShrinkOptions struct {
	Options
	// Tries bounds the runs (default 12); Budget bounds the wall time
	// (default 20 minutes). Shrink stops at whichever comes first.
	Tries  int
	Budget time.Duration
}

// ShrinkResult is what Shrink found.
type ShrinkResult struct {
	Scenario *scenarios.Scenario // the smallest failing scenario
	Path     string              // where it was written
	Tries    int                 // runs made
	// Before and After describe the timelines: faults, total fault time,
	// time limit.
	Before, After string
}

// ErrNotFailing: the run to shrink was not invalid, or its replay no
// longer fails.
var ErrNotFailing = errors.New("nothing to shrink")

// Shrink looks for a smaller scenario that still fails, starting from a
// failing run's replay.yaml: first fewer faults (delta debugging over the
// timeline: each fault alone, then the timeline without one fault at a
// time), then shorter faults (halving each duration), then a time limit
// that ends soon after the last fault. Every candidate is a real run with
// the same seed; a candidate fails when its verdict is invalid. The
// smallest failing scenario is written to ShrinkFile in dir, ready to
// attach to a bug report.
func Shrink(ctx context.Context, dir string, opts ShrinkOptions) (ShrinkResult, error) {
	if opts.Tries <= 0 {
		opts.Tries = 12
	}
	if opts.Budget <= 0 {
		opts.Budget = 20 * time.Minute
	}
	log := opts.Log
	if log == nil {
		log = os.Stderr
	}
	logf := func(format string, args ...any) { fmt.Fprintf(log, "faultline: shrink: "+format+"\n", args...) }
	best, err := scenarios.Load(filepath.Join(dir, ReplayFile))
	if err != nil {
		return ShrinkResult{}, fmt.Errorf("%w: %w (a run that applied no faults has no replay.yaml)", ErrNotFailing, err)
	}
	res := ShrinkResult{Before: describeTimeline(best)}
	deadline := time.Now().Add(opts.Budget)
	// fails runs a candidate and reports whether it is still invalid.
	fails := func(tl []scenarios.TimedFault, limit time.Duration) bool {
		if res.Tries >= opts.Tries || time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		c := *best
		c.Nemesis = scenarios.Nemesis{Timeline: tl}
		c.TimeLimit = limit
		res.Tries++
		logf("try %d: %s", res.Tries, describeTimeline(&c))
		rep, err := Run(ctx, &c, opts.Options)
		ok := err == nil && rep.Verdict == checker.Invalid
		logf("try %d: %s", res.Tries, map[bool]string{true: "still invalid", false: "no longer fails"}[ok])
		if ok {
			cc := c
			best = &cc
		}
		return ok
	}
	// The starting point must fail.
	if !fails(best.Nemesis.Timeline, best.TimeLimit) {
		return res, fmt.Errorf("%w: the replay of %s is not invalid", ErrNotFailing, dir)
	}
	shrinkTimeline(func() *scenarios.Scenario { return best }, fails)
	best.Description = "minimal reproducer found by faultline shrink from " + dir
	b, err := best.Marshal()
	if err != nil {
		return res, err
	}
	res.Path = filepath.Join(dir, ShrinkFile)
	if err := os.WriteFile(res.Path, b, 0o644); err != nil {
		return res, err
	}
	res.Scenario, res.After = best, describeTimeline(best)
	return res, ctx.Err()
}

// shrinkTimeline tries ever smaller timelines of the best failing
// scenario so far (best): fewer faults (one alone, then all but one),
// shorter faults (halving each), then a time limit that ends soon after
// the last fault. fails runs a candidate, and makes it the best when it
// still fails.
func shrinkTimeline(best func() *scenarios.Scenario, fails func(tl []scenarios.TimedFault, limit time.Duration) bool) {
	tl := best().Nemesis.Timeline
	if len(tl) > 1 {
		reduced := false
		for i := range tl {
			if fails([]scenarios.TimedFault{tl[i]}, best().TimeLimit) {
				reduced = true
				break
			}
		}
		for i := 0; !reduced && i < len(tl) && len(tl) > 1; i++ {
			cand := slices.Delete(slices.Clone(tl), i, i+1)
			if fails(cand, best().TimeLimit) {
				tl, i = cand, -1
			}
		}
	}
	tl = best().Nemesis.Timeline
	for i := range tl {
		for tl[i].For/2 >= time.Second {
			cand := slices.Clone(tl)
			cand[i].For /= 2
			if !fails(cand, best().TimeLimit) {
				break
			}
			tl = cand
		}
	}
	tl = best().Nemesis.Timeline
	last := tl[len(tl)-1]
	if limit := last.At + last.For + 3*time.Second; limit < best().TimeLimit {
		fails(tl, limit)
	}
}

func describeTimeline(s *scenarios.Scenario) string {
	var total time.Duration
	for _, e := range s.Nemesis.Timeline {
		total += e.For
	}
	n := fmt.Sprintf("%d faults", len(s.Nemesis.Timeline))
	if len(s.Nemesis.Timeline) == 1 {
		n = "1 fault"
	}
	return fmt.Sprintf("%s, %v of faults, time limit %v", n, total, s.TimeLimit)
}
