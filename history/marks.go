package history

import (
	"encoding/json"
	"fmt"
	"time"
)

// A faultline history opens with a "begin" mark and closes with an "end"
// mark, both nemesis records that are neither faults nor observations. The
// begin mark says that an end will follow and how long the workload was
// planned to run; the end mark counts the records before it. So a history
// that begins and does not end stopped early (the harness was killed, the
// file was cut), and one whose end counts more records than it holds lost
// some. Histories of other tools, and faultline's before the marks, have
// neither: whether they are whole cannot be told.
const (
	MarkBegin = "begin"
	MarkEnd   = "end"
)

// Marks are the nemesis events that mark the history itself.
var Marks = []string{MarkBegin, MarkEnd}

// BeginMark is the value of a begin mark.
type BeginMark struct {
	// Format is the history's format: 2 is the first with marks.
	Format int `json:"format"`
	// PlannedMS is how long the workload was to run (its time limit).
	PlannedMS int64 `json:"planned_ms,omitempty"`
}

// EndMark is the value of an end mark.
type EndMark struct {
	// Records counts the records before the end mark.
	Records int64 `json:"records"`
	// Stopped says why the workload ended before its time limit ("" when
	// it ran to the end): the records are all there, the run is shorter.
	Stopped string `json:"stopped,omitempty"`
}

// Format is the format this package writes.
const Format = 2

// Begin appends the begin mark: call it first, after Rebase.
func (w *Writer) Begin(planned time.Duration) error {
	b, err := json.Marshal(BeginMark{Format: Format, PlannedMS: planned.Milliseconds()})
	if err != nil {
		return err
	}
	_, err = w.Append(Record{Process: Nemesis, Type: Info, F: MarkBegin, Value: b})
	return err
}

// End appends the end mark, counting every record before it; stopped says
// why the workload ended early, if it did. Call it last, before Close.
func (w *Writer) End(stopped string) error {
	w.mu.Lock()
	n := w.next
	w.mu.Unlock()
	b, err := json.Marshal(EndMark{Records: n, Stopped: stopped})
	if err != nil {
		return err
	}
	_, err = w.Append(Record{Process: Nemesis, Type: Info, F: MarkEnd, Value: b})
	return err
}

// Cut is what is known of a history that stopped early.
type Cut struct {
	// Missing counts the records lost, -1 when that cannot be told (the
	// end mark itself is gone).
	Missing int64 `json:"missing"`
	// EndsAt is the time of the last record; PlannedMS the workload's
	// planned length, from the begin mark (0: not said).
	EndsAtMS  int64 `json:"ends_at_ms"`
	PlannedMS int64 `json:"planned_ms,omitempty"`
}

func (c *Cut) String() string {
	s := "the history is cut: "
	if c.Missing >= 0 {
		s += fmt.Sprintf("%d records are missing (its end mark counts more than it holds)", c.Missing)
	} else {
		s += "it has no end mark, so it stopped early (the harness was killed or the file cut)"
		if c.PlannedMS > 0 {
			s += fmt.Sprintf("; its last record is at %.1fs of a workload planned for %.1fs", float64(c.EndsAtMS)/1e3, float64(c.PlannedMS)/1e3)
		}
	}
	return s
}

// Whole says whether a history is whole: nil when it is, or when it has
// no begin mark (so cannot tell), else what is known of the cut.
func Whole(recs []Record) *Cut {
	var begin *BeginMark
	for i := range recs {
		r := &recs[i]
		if r.Process != Nemesis {
			continue
		}
		switch r.F {
		case MarkBegin:
			begin = &BeginMark{}
			if json.Unmarshal(r.Value, begin) != nil {
				begin = &BeginMark{}
			}
		case MarkEnd:
			var e EndMark
			if json.Unmarshal(r.Value, &e) == nil && e.Records > int64(i) {
				return &Cut{Missing: e.Records - int64(i), EndsAtMS: End(recs) / 1e6}
			}
			return nil
		}
	}
	if begin == nil {
		return nil
	}
	return &Cut{Missing: -1, EndsAtMS: End(recs) / 1e6, PlannedMS: begin.PlannedMS}
}
