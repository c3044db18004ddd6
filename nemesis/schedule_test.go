package nemesis_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/nemesis"
)

// steps lists a plan's steps as "at+hold kind".
func steps(t *testing.T, s nemesis.Schedule, limit time.Duration, seed uint64) []string {
	t.Helper()
	plan, err := s.Plan(limit, rand.New(rand.NewPCG(seed, 0)))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for {
		st, ok := plan.Next()
		if !ok {
			return out
		}
		out = append(out, fmt.Sprintf("%v+%v %s", st.At, st.Hold, st.Spec.Kind))
	}
}

func TestSchedulePlan(t *testing.T) {
	kill, pause := nemesis.Spec{Kind: "kill", Node: "n1"}, nemesis.Spec{Kind: "pause", Node: "n2"}
	// An explicit timeline, as written.
	tl := nemesis.Schedule{Timeline: []nemesis.Timed{{At: time.Second, For: 2 * time.Second, Fault: kill}, {At: 5 * time.Second, For: time.Second, Fault: pause}}}
	if got, want := steps(t, tl, 10*time.Second, 1), []string{"1s+2s kill", "5s+1s pause"}; !slices.Equal(got, want) {
		t.Errorf("timeline: %v, want %v", got, want)
	}
	// Faults in turn every 3s after 1s: no fault may end in the last 2s
	// (the recovery phase), so the one at 7s is not started.
	cyc := nemesis.Schedule{Order: "cycle", StartAfter: time.Second, Every: 3 * time.Second, Hold: time.Second, Recovery: 2 * time.Second, Faults: []nemesis.Spec{kill, pause}}
	if got, want := steps(t, cyc, 10*time.Second, 1), []string{"1s+1s kill", "4s+1s pause"}; !slices.Equal(got, want) {
		t.Errorf("cycle: %v, want %v", got, want)
	}
	// Drawn intervals and holds stay in their ranges, and a seed draws
	// the same schedule again.
	rnd := nemesis.Schedule{Every: 2 * time.Second, EveryMax: 4 * time.Second, Hold: time.Second, HoldMax: 1500 * time.Millisecond, Faults: []nemesis.Spec{kill, pause}}
	a, b := steps(t, rnd, time.Minute, 7), steps(t, rnd, time.Minute, 7)
	if !slices.Equal(a, b) || len(a) < 10 {
		t.Fatalf("seed 7 drew %v, then %v", a, b)
	}
	plan, _ := rnd.Plan(time.Minute, rand.New(rand.NewPCG(7, 0)))
	var prev time.Duration
	kinds := map[string]bool{}
	for i := 0; ; i++ {
		st, ok := plan.Next()
		if !ok {
			break
		}
		if gap := st.At - prev; i > 0 && (gap < 2*time.Second || gap > 4*time.Second) || st.Hold < time.Second || st.Hold > 1500*time.Millisecond {
			t.Errorf("step %d: at %v (gap %v), hold %v", i, st.At, gap, st.Hold)
		}
		prev, kinds[st.Spec.Kind] = st.At, true
	}
	if !kinds["kill"] || !kinds["pause"] {
		t.Errorf("random order picked only %v", kinds)
	}
	// The fault as written rides along: a schedule's own, or a run
	// timeline's as_written.
	asWritten := func(s nemesis.Schedule) string {
		plan, err := s.Plan(10*time.Second, rand.New(rand.NewPCG(1, 0)))
		if err != nil {
			t.Fatal(err)
		}
		st, _ := plan.Next()
		return st.AsWritten.Kind + " " + st.AsWritten.Node
	}
	isolate := nemesis.Spec{Kind: "isolate", Node: "leader"}
	if got := asWritten(nemesis.Schedule{Every: 2 * time.Second, Hold: time.Second, Faults: []nemesis.Spec{isolate}}); got != "isolate leader" {
		t.Errorf("schedule step as written: %q", got)
	}
	if got := asWritten(nemesis.Schedule{Timeline: []nemesis.Timed{{For: time.Second, Fault: kill, AsWritten: &isolate}}}); got != "isolate leader" {
		t.Errorf("timeline step as written: %q", got)
	}
	if got := asWritten(tl); got != "kill n1" {
		t.Errorf("timeline without as_written: %q", got)
	}
	// A fault whose ports were never resolved is not built.
	bad := nemesis.Schedule{Timeline: []nemesis.Timed{{At: 0, For: time.Second, Fault: nemesis.Spec{Kind: "halves", Ports: nemesis.Ports{"peer"}}}}}
	if _, err := bad.Plan(time.Minute, rand.New(rand.NewPCG(1, 0))); err == nil || !strings.Contains(err.Error(), "not resolved") {
		t.Errorf("unresolved ports: %v", err)
	}
}

// fakeFault is a plan whose injections are counted: the n-th fails when
// fail says so.
type fakeFault struct {
	mu                  sync.Mutex
	injected, recovered int
	fail                func(n int) error
	recoverCtx          []error // each recovery's context's error
}

func (f *fakeFault) Name() string { return "fake" }

func (f *fakeFault) Inject(context.Context, *nemesis.Nemesis) (nemesis.Injected, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.injected++
	var err error
	if f.fail != nil {
		err = f.fail(f.injected)
	}
	return &fakeInjected{f: f, n: f.injected}, err
}

type fakeInjected struct {
	f *fakeFault
	n int
}

func (in *fakeInjected) Describe() string { return fmt.Sprintf("injection %d", in.n) }

func (in *fakeInjected) Resolved() nemesis.Spec {
	return nemesis.Spec{Kind: "kill", Node: fmt.Sprintf("n%d", in.n)}
}

func (in *fakeInjected) Recover(ctx context.Context) error {
	in.f.mu.Lock()
	defer in.f.mu.Unlock()
	in.f.recovered++
	in.f.recoverCtx = append(in.f.recoverCtx, ctx.Err())
	return nil
}

// fakePlan offers the same fault every every, held hold.
func fakePlan(f nemesis.Fault, every, hold time.Duration, n int) *nemesis.Plan {
	var steps []nemesis.Step
	for i := range n {
		steps = append(steps, nemesis.Step{At: time.Duration(i) * every, Hold: hold, Spec: nemesis.Spec{Kind: "kill"}, Fault: f, AsWritten: nemesis.Spec{Kind: "kill", Node: "leader"}})
	}
	return nemesis.PlanOf(steps)
}

type events []string

func (e *events) Injected(s nemesis.Step, in nemesis.Injected, at, _ time.Duration) {
	*e = append(*e, "in "+in.Describe())
}
func (e *events) Recovered(s nemesis.Step, _, _ time.Duration) { *e = append(*e, "out") }

// TestPlay: every fault injected is recovered, in its own time, and the
// timeline says what each did; a fault that fails stops the play,
// recovered all the same; a play cut short by its context still
// recovers with a context of its own.
func TestPlay(t *testing.T) {
	f := &fakeFault{}
	var ev events
	tl, err := nemesis.Play(context.Background(), time.Now(), 500*time.Millisecond, fakePlan(f, 100*time.Millisecond, 20*time.Millisecond, 3), &nemesis.Nemesis{}, &ev)
	if err != nil || f.injected != 3 || f.recovered != 3 || len(tl) != 3 || tl[2].Fault.Node != "n3" {
		t.Fatalf("%d injected, %d recovered, timeline %+v, %v", f.injected, f.recovered, tl, err)
	}
	if w := tl[2].AsWritten; w == nil || w.Kind != "kill" || w.Node != "leader" {
		t.Errorf("the timeline lost the fault as written: %+v", tl[2])
	}
	if want := []string{"in injection 1", "out", "in injection 2", "out", "in injection 3", "out"}; !slices.Equal(ev, want) {
		t.Errorf("observed %v, want %v", ev, want)
	}
	if tl[1].At < 100*time.Millisecond || tl[1].For < 20*time.Millisecond {
		t.Errorf("second step at %v for %v", tl[1].At, tl[1].For)
	}

	boom := errors.New("boom")
	f = &fakeFault{fail: func(n int) error {
		if n == 2 {
			return boom
		}
		return nil
	}}
	tl, err = nemesis.Play(context.Background(), time.Now(), time.Second, fakePlan(f, 50*time.Millisecond, 10*time.Millisecond, 5), &nemesis.Nemesis{}, &events{})
	if !errors.Is(err, boom) || f.injected != 2 || f.recovered != 2 || len(tl) != 1 {
		t.Errorf("a failed fault: %v, %d injected, %d recovered, timeline %d", err, f.injected, f.recovered, len(tl))
	}

	f = &fakeFault{}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = nemesis.Play(ctx, time.Now(), time.Minute, fakePlan(f, time.Millisecond, time.Hour, 1), &nemesis.Nemesis{}, &events{})
	if err != nil || f.recovered != 1 || f.recoverCtx[0] != nil {
		t.Errorf("a cancelled play: %v, %d recovered, recovery's context %v", err, f.recovered, f.recoverCtx)
	}
}
