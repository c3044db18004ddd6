package checker_test

import (
	"testing"
	"time"

	"github.com/faultline/faultline/checker"
)

// BenchmarkCheckRecorded checks histories recorded from real etcd runs
// (about 5,700 operations over 4 keys, and 2,900 over 2 keys).
func BenchmarkCheckRecorded(b *testing.B) {
	for _, file := range []string{"etcd-register-valid.jsonl.gz", "etcd-stale-reads.jsonl.gz"} {
		b.Run(file, func(b *testing.B) {
			recs := load(b, file)
			b.ReportMetric(float64(len(recs)), "records")
			b.ResetTimer()
			for b.Loop() {
				if _, err := checker.Check(recs, checker.Register, checker.Options{Budget: time.Minute}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
