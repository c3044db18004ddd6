package checker

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/faultline/faultline/history"
)

// BenchmarkGuarantees times each guarantee check on its own (on one
// core, decoding included), every new check together and the whole table
// (in GOMAXPROCS workers, as porcupine's keys are) (Check: porcupine plus every check), on synthetic
// linearizable register histories of 10^5 and 10^6 operations (1000
// keys, 20 clients), beside today's linearizability check alone
// (linearizableOnly) on the same history. Peak heap includes the history.
func BenchmarkGuarantees(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		recs := synthRegister(n, 1000, 20, false, 1)
		prep := func() (map[string]*keyOps, []history.FaultWindow) {
			h, err := read(recs, Register)
			if err != nil {
				b.Fatal(err)
			}
			return h.keys, h.faults
		}
		each := func(f func(r *regKey, t *table, faults []history.FaultWindow)) func() {
			return func() {
				perKey, faults := prep()
				t := newTable(Register, nil)
				for _, k := range slices.Sorted(maps.Keys(perKey)) {
					f(newRegKey(perKey[k], nilValue), t, faults)
				}
				for _, r := range t.rows {
					if r.Status == Violated {
						b.Fatalf("%s violated on a linearizable history: %v", r.Guarantee, r.Violations)
					}
				}
			}
		}
		cases := []struct {
			name string
			run  func()
		}{
			{"baseline-linearizable-porcupine", func() {
				res, err := linearizableOnly(recs, Register, Options{Budget: 5 * time.Minute})
				if err != nil || res.Verdict != Valid {
					b.Fatalf("%v %v", res.Verdict, err)
				}
			}},
			{"decode", func() { prep() }},
			{"sequential", each(func(r *regKey, t *table, f []history.FaultWindow) { r.sequential(t, f) })},
			{"session", each(func(r *regKey, t *table, f []history.FaultWindow) { r.sessionChecks(t, f) })},
			{"no-lost-writes", each(func(r *regKey, t *table, f []history.FaultWindow) { r.lost(t, f) })},
			{"staleness", each(func(r *regKey, _ *table, _ []history.FaultWindow) { r.staleness(&staleAcc{}) })},
			{"convergence", each(func(r *regKey, _ *table, _ []history.FaultWindow) {
				(&convAcc{nodes: []string{"n1", "n2"}}).key(r.key, r.finalReads(), func(o *gop) string { return describeValue(o.val) })
			})},
			{"every-new-check", func() {
				h, err := read(recs, Register)
				if err != nil {
					b.Fatal(err)
				}
				h.examine(Register, Options{})
			}},
			{"whole-table", func() {
				res, err := Check(recs, Register, Options{Budget: 5 * time.Minute})
				if err != nil || res.Verdict != Valid {
					b.Fatalf("%v %v", res.Verdict, err)
				}
			}},
		}
		for _, c := range cases {
			b.Run(fmt.Sprintf("ops=%d/%s", n, c.name), func(b *testing.B) {
				var secs, peak float64
				for range b.N {
					p := peakHeap(func() {
						start := time.Now()
						c.run()
						secs += time.Since(start).Seconds()
					})
					peak = max(peak, p)
				}
				b.ReportMetric(secs/float64(b.N), "check-s")
				b.ReportMetric(peak, "peak-heap-MiB")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// BenchmarkSetGuarantees: the set workload's checks (Jepsen's set checker
// for linearizability, then every guarantee) on synthetic linearizable set
// histories: 10^5 operations over 1000 keys, 10^6 over 10^4 keys (a set
// read lists every element so far, so 10^6 operations over 1000 keys
// would be a history of 10^8 numbers).
func BenchmarkSetGuarantees(b *testing.B) {
	for _, c := range []struct{ n, keys int }{{100_000, 1000}, {1_000_000, 10_000}} {
		recs := synthSet(c.n, c.keys, 20, 1)
		for _, what := range []string{"baseline-set-checker", "every-new-check", "whole-table"} {
			b.Run(fmt.Sprintf("ops=%d/keys=%d/%s", c.n, c.keys, what), func(b *testing.B) {
				var secs, peak float64
				for range b.N {
					p := peakHeap(func() {
						start := time.Now()
						switch what {
						case "baseline-set-checker":
							if res, err := linearizableOnly(recs, Set, Options{Budget: time.Minute}); err != nil || res.Verdict != Valid {
								b.Fatalf("%v %v", res.Verdict, err)
							}
						case "every-new-check":
							h, err := read(recs, Set)
							if err != nil {
								b.Fatal(err)
							}
							t, _, _ := h.examine(Set, Options{})
							for _, r := range t.rows {
								if r.Status == Violated {
									b.Fatalf("%s violated on a linearizable history: %v", r.Guarantee, r.Violations)
								}
							}
						default:
							if res, err := Check(recs, Set, Options{Budget: time.Minute}); err != nil || res.Verdict != Valid {
								b.Fatalf("%v %v %s", res.Verdict, err, res.Boundary)
							}
						}
						secs += time.Since(start).Seconds()
					})
					peak = max(peak, p)
				}
				b.ReportMetric(secs/float64(b.N), "check-s")
				b.ReportMetric(peak, "peak-heap-MiB")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}
