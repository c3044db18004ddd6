package checker

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/faultline/faultline/history"
)

// peakHeap samples the heap in use while f runs and returns the peak in MiB.
func peakHeap(f func()) float64 {
	runtime.GC()
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	f()
	close(done)
	return float64(peak.Load()) / (1 << 20)
}

// BenchmarkCheckSynthetic checks synthetic register histories of 10^4,
// 10^5 and 10^6 operations (1000 keys, 20 clients), valid and with one
// injected anomaly, and reports seconds per check and the peak heap (the
// history itself included). The anomalous ones stop at the first invalid
// key. The baseline is one unpartitioned porcupine call on the 10^4
// history, a model over all keys at once, as a checker without per-key
// partitioning would make.
func BenchmarkCheckSynthetic(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		for _, anomaly := range []bool{false, true} {
			name := fmt.Sprintf("ops=%d/anomaly=%v", n, anomaly)
			b.Run(name, func(b *testing.B) {
				var secs, peak float64
				for i := 0; i < b.N; i++ {
					var res Result
					var err error
					p := peakHeap(func() {
						recs := synthRegister(n, 1000, 20, anomaly, uint64(i+1))
						start := time.Now()
						res, err = linearizableOnly(recs, Register, Options{Budget: 5 * time.Minute, StopAtFirstInvalid: true})
						secs += time.Since(start).Seconds()
					})
					peak = max(peak, p)
					if err != nil {
						b.Fatal(err)
					}
					want := Valid
					if anomaly {
						want = Invalid
					}
					if res.Verdict != want {
						b.Fatalf("verdict %s, want %s", res.Verdict, want)
					}
				}
				b.ReportMetric(secs/float64(b.N), "check-s")
				b.ReportMetric(peak, "peak-heap-MiB")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
	b.Run("baseline-unpartitioned-porcupine/ops=10000", func(b *testing.B) {
		var secs float64
		var verdict porcupine.CheckResult
		for i := 0; i < b.N; i++ {
			ops := unpartitioned(b, synthRegister(10_000, 1000, 20, false, uint64(i+1)))
			start := time.Now()
			verdict = porcupine.CheckOperationsTimeout(mapRegisterModel(), ops, time.Minute)
			secs += time.Since(start).Seconds()
		}
		b.ReportMetric(secs/float64(b.N), "check-s")
		b.ReportMetric(map[porcupine.CheckResult]float64{porcupine.Ok: 1, porcupine.Illegal: 0, porcupine.Unknown: -1}[verdict], "verdict(1=ok,-1=timeout)")
		b.ReportMetric(0, "ns/op")
	})
}

// keyed is a register input tagged with its key, for the unpartitioned
// baseline.
type keyed struct {
	key string
	in  regInput
}

// unpartitioned prepares the same operations the checker would, but as
// one history over all keys.
func unpartitioned(b *testing.B, recs []history.Record) []porcupine.Operation {
	h, err := read(recs, Register)
	if err != nil {
		b.Fatal(err)
	}
	var all []porcupine.Operation
	for key, k := range h.keys {
		for _, op := range registerPorcupineOps(k, h.end) {
			op.Input = keyed{key: key, in: op.Input.(regInput)}
			all = append(all, op)
		}
	}
	return all
}

// mapRegisterModel is the register model over a map of all keys: what
// checking without partitioning by key means. Each step copies the map.
func mapRegisterModel() porcupine.Model {
	reg := registerModel(nilValue)
	return porcupine.Model{
		Init: func() interface{} { return map[string]int64{} },
		Step: func(state, input, output interface{}) (bool, interface{}) {
			m := state.(map[string]int64)
			k := input.(keyed)
			cur, ok := m[k.key]
			if !ok {
				cur = nilValue
			}
			legal, next := reg.Step(cur, k.in, output)
			if !legal {
				return false, state
			}
			if next.(int64) == cur {
				return true, state
			}
			out := make(map[string]int64, len(m)+1)
			for kk, v := range m {
				out[kk] = v
			}
			out[k.key] = next.(int64)
			return true, out
		},
		Equal: func(a, b interface{}) bool {
			ma, mb := a.(map[string]int64), b.(map[string]int64)
			if len(ma) != len(mb) {
				return false
			}
			for k, v := range ma {
				if mb[k] != v {
					return false
				}
			}
			return true
		},
		Hash: func(state interface{}) uint64 {
			var h uint64
			for k, v := range state.(map[string]int64) {
				h += uint64(len(k))*31 + uint64(v)*0x9e3779b97f4a7c15
			}
			return h
		},
	}
}
