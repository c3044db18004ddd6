package testcluster

import (
	"slices"
	"testing"
	"time"
)

// Rounds times b.N rounds of apply then heal (a fault put in place and
// taken away), failing b on the first error; after each round, untimed,
// each of then.
func Rounds(b *testing.B, apply, heal func() error, then ...func()) (applied, healed []time.Duration) {
	b.Helper()
	for range b.N {
		t := time.Now()
		if err := apply(); err != nil {
			b.Fatal(err)
		}
		applied = append(applied, time.Since(t))
		t = time.Now()
		if err := heal(); err != nil {
			b.Fatal(err)
		}
		healed = append(healed, time.Since(t))
		for _, f := range then {
			f()
		}
	}
	return applied, healed
}

// Millis is the q-quantile of d (0.5, 0.99), in milliseconds.
func Millis(d []time.Duration, q float64) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[min(len(s)-1, int(q*float64(len(s))))].Microseconds()) / 1000
}
