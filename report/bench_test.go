package report

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
)

// tenMinutes is the history of a 10-minute run at 1,000 operations per
// second: 600,000 operations by 30 clients on 3 nodes, a fault every 40 s
// for 20 s, a few percent failing or unknown.
func tenMinutes() []history.Record { return synthetic(600_000) }

// synthetic is a run of n operations at 1,000 a second, as tenMinutes.
func synthetic(n int) []history.Record {
	rng := rand.New(rand.NewPCG(1, 1))
	var recs []history.Record
	const clients = 30
	step := int64(time.Millisecond)
	for i := range n {
		c := i % clients
		call := int64(i) * step
		lat := int64(500_000 + rng.IntN(3_000_000))
		typ, f := history.OK, "read"
		if rng.IntN(3) == 0 {
			f = "write"
		}
		switch r := rng.IntN(100); {
		case r < 2:
			typ = history.Fail
		case r < 3:
			typ, lat = history.Info, int64(time.Second)
		}
		node := "n" + strconv.Itoa(c%3+1)
		recs = append(recs,
			history.Record{Process: history.Process(c), Node: node, Type: history.Invoke, F: f, Key: "k" + strconv.Itoa(i%4), Value: json.RawMessage("1"), Time: call},
			history.Record{Process: history.Process(c), Node: node, Type: typ, F: f, Key: "k" + strconv.Itoa(i%4), Value: json.RawMessage("1"), Time: call + lat})
	}
	for at := int64(20); at < int64(n/1000); at += 40 {
		recs = append(recs, history.Record{Process: history.Nemesis, Type: history.Info, F: "partition", Value: json.RawMessage(`{"shape":"isolate","summary":"n1 | n2 n3"}`), Time: at * int64(time.Second)},
			history.Record{Process: history.Nemesis, Type: history.Info, F: "heal", Value: json.RawMessage(`{}`), Time: (at + 20) * int64(time.Second)})
	}
	return recs
}

// BenchmarkReportTenMinutes writes the report of a 10-minute run at
// 1,000 operations per second and reports its size and the time to write
// it (open it in a browser to time that: the path is logged).
func BenchmarkReportTenMinutes(b *testing.B) {
	recs := tenMinutes()
	dir := b.TempDir()
	path := filepath.Join(dir, File)
	var secs float64
	for range b.N {
		start := time.Now()
		if err := Write(path, Input{Scenario: "ten-minutes", Result: checker.Result{Verdict: checker.Valid}, Records: recs, Dir: dir}); err != nil {
			b.Fatal(err)
		}
		secs += time.Since(start).Seconds()
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	if keep := os.Getenv("FAULTLINE_KEEP_REPORT"); keep != "" {
		data, _ := os.ReadFile(path)
		os.WriteFile(keep, data, 0o644)
		data, _ = os.ReadFile(filepath.Join(dir, TimelineFile))
		os.WriteFile(filepath.Join(filepath.Dir(keep), TimelineFile), data, 0o644)
	}
	b.ReportMetric(secs/float64(b.N), "write-s")
	b.ReportMetric(float64(fi.Size())/(1<<20), "report-MiB")
	if tl, err := os.Stat(filepath.Join(dir, TimelineFile)); err == nil {
		b.ReportMetric(float64(tl.Size())/(1<<20), "timeline-MiB")
	}
	b.ReportMetric(0, "ns/op")
	fmt.Fprintf(os.Stderr, "report of %d records: %s\n", len(recs), path)
}

// BenchmarkTimeline writes timeline.html for runs of 100,000 and 600,000
// operations and reports its size and the time to write it (open it in a
// browser to time that: FAULTLINE_KEEP_TIMELINE=folder keeps them).
func BenchmarkTimeline(b *testing.B) {
	for _, n := range []int{100_000, 600_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			in := Input{Scenario: "synthetic", Records: synthetic(n), Clients: 30}
			path := filepath.Join(b.TempDir(), TimelineFile)
			start := time.Now()
			for range b.N {
				if err := writeTimeline(path, in); err != nil {
					b.Fatal(err)
				}
			}
			fi, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			if keep := os.Getenv("FAULTLINE_KEEP_TIMELINE"); keep != "" {
				data, _ := os.ReadFile(path)
				os.WriteFile(filepath.Join(keep, fmt.Sprintf("timeline-%d.html", n)), data, 0o644)
			}
			b.ReportMetric(time.Since(start).Seconds()/float64(b.N), "write-s")
			b.ReportMetric(float64(fi.Size())/(1<<20), "MiB")
			b.ReportMetric(0, "ns/op")
		})
	}
}
