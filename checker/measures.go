package checker

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Staleness is how long acknowledged updates took to be seen by every
// later read, as Jepsen's set-full reports it, and the worst stale reads.
type Staleness struct {
	// Updates counts the acknowledged updates measured (those a final
	// read still lacked are lost, not late, and left out).
	Updates int `json:"updates"`
	// Visibility latency: from an update's acknowledgement until the last
	// read begun after it that missed it (0 when none did).
	P50MS float64 `json:"p50_ms"`
	P90MS float64 `json:"p90_ms"`
	P99MS float64 `json:"p99_ms"`
	MaxMS float64 `json:"max_ms"`
	// Late counts the updates some later read missed.
	Late int `json:"late"`
	// StaleReads counts reads that missed an update acknowledged before
	// they began; ByNode, per node that served them.
	StaleReads int            `json:"stale_reads"`
	ByNode     map[string]int `json:"stale_reads_by_node,omitempty"`
	// Worst are the stalest reads, stalest first.
	Worst []StaleRead `json:"worst,omitempty"`
	// BoundMS is checker.staleness_bound, when one was given.
	BoundMS float64 `json:"bound_ms,omitempty"`
}

// StaleRead is a read that missed an update acknowledged before it began.
type StaleRead struct {
	Key  string `json:"key"`
	Node string `json:"node,omitempty"`
	// ByMS: how long before the read began the missed update was
	// acknowledged.
	ByMS   float64 `json:"by_ms"`
	Read   OpRef   `json:"read"`
	Missed OpRef   `json:"missed"`
}

func (s *Staleness) String() string {
	if s == nil || s.Updates == 0 {
		return "no acknowledged update to measure"
	}
	out := fmt.Sprintf("%d acknowledged updates, %d seen late; visibility latency p50 %s, p90 %s, p99 %s, max %s; %d stale reads",
		s.Updates, s.Late, ms(s.P50MS), ms(s.P90MS), ms(s.P99MS), ms(s.MaxMS), s.StaleReads)
	if _, unnamed := s.ByNode[""]; len(s.ByNode) > 0 && !unnamed {
		var parts []string
		for _, n := range slices.Sorted(maps.Keys(s.ByNode)) {
			parts = append(parts, fmt.Sprintf("%s %d", n, s.ByNode[n]))
		}
		out += " (" + strings.Join(parts, ", ") + ")"
	}
	return out
}

func ms(v float64) string {
	d := time.Duration(v * float64(time.Millisecond))
	if d >= 10*time.Millisecond {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Millisecond / 10).String()
}

// staleAcc gathers staleness across keys.
type staleAcc struct {
	lat   []int64
	late  int
	reads int
	// bound is checker.staleness_bound in ns (0: none); over counts the
	// stale reads past it.
	bound  int64
	over   int
	byNode map[string]int
	worst  []StaleRead
}

const maxWorst = 5

func (s *staleAcc) latency(ns int64) {
	s.lat = append(s.lat, ns)
	if ns > 0 {
		s.late++
	}
}

func (s *staleAcc) stale(key string, read, missed *gop, by int64) {
	s.reads++
	if s.bound > 0 && by > s.bound {
		s.over++
	}
	if s.byNode == nil {
		s.byNode = map[string]int{}
	}
	s.byNode[read.p.inv.Node]++
	byMS := float64(by) / 1e6
	if len(s.worst) == maxWorst && byMS <= s.worst[maxWorst-1].ByMS {
		return
	}
	s.worst = append(s.worst, StaleRead{Key: key, Node: read.p.inv.Node, ByMS: byMS, Read: read.ref(), Missed: missed.ref()})
	slices.SortStableFunc(s.worst, func(a, b StaleRead) int { return cmp.Compare(b.ByMS, a.ByMS) })
	s.worst = s.worst[:min(len(s.worst), maxWorst)]
}

func (s *staleAcc) merge(o *staleAcc) {
	s.lat = append(s.lat, o.lat...)
	s.late += o.late
	s.reads += o.reads
	s.over += o.over
	for n, c := range o.byNode {
		if s.byNode == nil {
			s.byNode = map[string]int{}
		}
		s.byNode[n] += c
	}
	s.worst = append(s.worst, o.worst...)
	slices.SortStableFunc(s.worst, func(a, b StaleRead) int { return cmp.Compare(b.ByMS, a.ByMS) })
	s.worst = s.worst[:min(len(s.worst), maxWorst)]
}

func (s *staleAcc) result(bound time.Duration) *Staleness {
	out := &Staleness{Updates: len(s.lat), Late: s.late, StaleReads: s.reads, Worst: s.worst, BoundMS: float64(bound) / 1e6}
	if s.reads > 0 {
		out.ByNode = s.byNode
	}
	if len(s.lat) > 0 {
		slices.Sort(s.lat)
		q := func(p float64) float64 { return float64(s.lat[int(p*float64(len(s.lat)-1))]) / 1e6 }
		out.P50MS, out.P90MS, out.P99MS, out.MaxMS = q(0.5), q(0.9), q(0.99), q(1)
	}
	return out
}

// Convergence is what the final reads showed: once updates and faults had
// ended, did every node answer the same value for each key, and how soon.
type Convergence struct {
	Keys   int `json:"keys"`
	Agreed int `json:"agreed"`
	// AgreedLate counts the agreed keys whose nodes first answered
	// differently: they converged only after the heal.
	AgreedLate int `json:"agreed_late"`
	Diverged   int `json:"diverged"`
	Unknown    int `json:"unknown"`
	// Nodes are the nodes the history names.
	Nodes []string `json:"nodes"`
	// Time to agree, from the invocation of the key's first final read
	// (the final reads began: they are the reads invoked after its last
	// update and the last fault ended) to the completion of the read
	// after which every node's answer was the same.
	P50MS float64 `json:"p50_ms"`
	MaxMS float64 `json:"max_ms"`
	// Slowest is the key that took longest to agree.
	Slowest string `json:"slowest,omitempty"`
	// Divergences are the first keys whose nodes still differed.
	Divergences []Divergence `json:"divergences,omitempty"`
	// TooSlow counts the agreed keys whose nodes agreed later than
	// Options.ConvergeWithin; Slow are the first of them.
	TooSlow int          `json:"too_slow,omitempty"`
	Slow    []Divergence `json:"slow,omitempty"`
	Note    string       `json:"note,omitempty"`
}

// Divergence is a key whose nodes' last final reads differed.
type Divergence struct {
	Key string `json:"key"`
	// Values is each node's last answer.
	Values map[string]string `json:"values"`
	// AfterMS is how long the nodes took to agree, for one too slow.
	AfterMS float64 `json:"after_ms,omitempty"`
}

func (c *Convergence) String() string {
	if c == nil || c.Keys == 0 {
		return "no final reads"
	}
	s := fmt.Sprintf("%d keys: %d agreed", c.Keys, c.Agreed)
	if c.AgreedLate > 0 {
		s += fmt.Sprintf(" (%d only after their nodes first answered differently)", c.AgreedLate)
	}
	s += fmt.Sprintf(", %d diverged, %d unknown", c.Diverged, c.Unknown)
	if c.Agreed > 0 {
		s += fmt.Sprintf("; time to agree p50 %s, max %s (key %s)", ms(c.P50MS), ms(c.MaxMS), c.Slowest)
	}
	return s
}

func (d Divergence) String() string {
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(d.Values)) {
		parts = append(parts, n+" "+d.Values[n])
	}
	return fmt.Sprintf("key %s: %s", d.Key, strings.Join(parts, "; "))
}

// convAcc gathers convergence across keys.
type convAcc struct {
	within  int64 // Options.ConvergeWithin, ns (0: none)
	nodes   []string
	out     Convergence
	times   []int64
	slowest int64
	why     string
}

// key judges one key from its final reads.
func (c *convAcc) key(key string, final []*gop, canon func(*gop) string) {
	c.out.Keys++
	if len(c.nodes) == 0 || len(c.nodes) == 1 && c.nodes[0] == "" {
		c.unknown("the history does not say which node served each read")
		return
	}
	if len(final) == 0 {
		c.unknown(fmt.Sprintf("no read of key %s succeeded after its updates and the faults ended", key))
		return
	}
	sorted := slices.Clone(final)
	slices.SortFunc(sorted, func(a, b *gop) int { return cmp.Compare(a.p.ret, b.p.ret) })
	latest := map[string]string{}
	agreeAt := int64(-1)
	first, late := true, false
	for _, o := range sorted {
		latest[o.p.inv.Node] = canon(o)
		if len(latest) < len(c.nodes) {
			continue
		}
		if first {
			first, late = false, !same(latest)
		}
		if same(latest) {
			if agreeAt < 0 {
				agreeAt = o.p.stop
			}
		} else {
			agreeAt = -1
		}
	}
	if len(latest) < len(c.nodes) {
		var missing []string
		for _, n := range c.nodes {
			if _, ok := latest[n]; !ok {
				missing = append(missing, n)
			}
		}
		c.unknown(fmt.Sprintf("no final read of key %s succeeded on %s", key, strings.Join(missing, ", ")))
		return
	}
	if agreeAt < 0 {
		c.out.Diverged++
		if len(c.out.Divergences) < maxViolations {
			c.out.Divergences = append(c.out.Divergences, Divergence{Key: key, Values: latest})
		}
		return
	}
	c.out.Agreed++
	if late {
		c.out.AgreedLate++
	}
	began := final[0].p.start
	for _, o := range final {
		began = min(began, o.p.start)
	}
	d := max(0, agreeAt-began)
	c.times = append(c.times, d)
	if c.within > 0 && d > c.within {
		c.out.TooSlow++
		if len(c.out.Slow) < maxViolations {
			c.out.Slow = append(c.out.Slow, Divergence{Key: key, Values: latest, AfterMS: float64(d) / 1e6})
		}
	}
	if d >= c.slowest {
		c.slowest, c.out.Slowest = d, key
	}
}

// unknown counts a key that cannot be judged; the first reason is kept.
func (c *convAcc) unknown(why string) {
	c.out.Unknown++
	if c.why == "" {
		c.why = why
	}
}

func same(m map[string]string) bool {
	first, set := "", false
	for _, v := range m {
		if set && v != first {
			return false
		}
		first, set = v, true
	}
	return true
}

func (c *convAcc) merge(o *convAcc) {
	c.out.Keys += o.out.Keys
	c.out.Agreed += o.out.Agreed
	c.out.AgreedLate += o.out.AgreedLate
	c.out.Diverged += o.out.Diverged
	c.out.Unknown += o.out.Unknown
	c.out.Divergences = append(c.out.Divergences, o.out.Divergences[:min(len(o.out.Divergences), maxViolations-len(c.out.Divergences))]...)
	c.out.TooSlow += o.out.TooSlow
	c.out.Slow = append(c.out.Slow, o.out.Slow[:min(len(o.out.Slow), maxViolations-len(c.out.Slow))]...)
	c.times = append(c.times, o.times...)
	if o.out.Slowest != "" && o.slowest >= c.slowest {
		c.slowest, c.out.Slowest = o.slowest, o.out.Slowest
	}
	if c.why == "" {
		c.why = o.why
	}
}

// fill writes the converges row and returns the figures.
func (c *convAcc) fill(t *table) *Convergence {
	out := c.out
	out.Nodes = c.nodes
	if len(c.times) > 0 {
		slices.Sort(c.times)
		out.P50MS = float64(c.times[len(c.times)/2]) / 1e6
		out.MaxMS = float64(c.times[len(c.times)-1]) / 1e6
	}
	for _, d := range out.Divergences {
		t.violate(Converges, Violation{Key: d.Key, What: "after the heal the nodes still answered differently: " + strings.TrimPrefix(d.String(), "key "+d.Key+": ")})
	}
	for _, d := range out.Slow {
		t.violate(Converges, Violation{Key: d.Key, What: fmt.Sprintf("the nodes agreed only %s after the final reads began, past converge_within %s", ms(d.AfterMS), time.Duration(c.within))})
	}
	if r := t.rows[Converges]; r != nil && out.Diverged+out.TooSlow > len(out.Divergences)+len(out.Slow) {
		r.Total = out.Diverged + out.TooSlow
	}
	switch {
	case out.Diverged > 0 || out.TooSlow > 0:
	case out.Keys == 0:
		t.undecided(Converges, "no key was read after its updates and the faults ended")
	case out.Unknown > 0:
		t.undecided(Converges, c.why)
		out.Note = c.why
	}
	return &out
}
