package yamlpos

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

var errBad = errors.New("bad")

// worst are documents of up to 1 MiB (the size limit) built to cost the
// YAML library the most: deep nesting (refused), and, with as many values
// as the limit allows, each as large as fills the megabyte: flat lists,
// mappings, long strings, aliases to a large anchor, 64-deep flow nesting,
// deep indentation, deep block nesting.
func worst() map[string]string {
	const size = 1 << 20
	fill := func(head, item, sep, tail string) string {
		var b strings.Builder
		b.WriteString(head)
		for i := 0; i < MaxValues-10 && b.Len()+len(item)+len(tail)+len(sep) < size; i++ {
			if i > 0 {
				b.WriteString(sep)
			}
			b.WriteString(strings.ReplaceAll(item, "#", strconv.Itoa(i)))
		}
		b.WriteString(tail)
		return b.String()
	}
	return map[string]string{
		"nested brackets":   "x: " + strings.Repeat("[", size/2-4) + strings.Repeat("]", size/2-4),
		"flat list":         fill("x: [", strings.Repeat("1", 100), ",", "]\n"),
		"mapping keys":      fill("x:\n", "  k#"+strings.Repeat("k", 90)+": 1", "\n", "\n"),
		"long values":       fill("x: [", `"`+strings.Repeat("a", 95)+`"`, ",", "]\n"),
		"aliases":           "x: &a [" + strings.Repeat("1,", 5000) + "1]\n" + "y: [" + strings.Repeat("*a,", 250) + "*a]\n",
		"nested 64 deep":    fill("x: [", strings.Repeat("[", 63)+"1"+strings.Repeat("]", 63), ",", "]\n"),
		"indentation":       fill("", "#:", "\n"+strings.Repeat(" ", 250), "\n"),
		"block nesting 126": fill("x:\n", blockLevels(126), "\n", "\n"),
	}
}

func blockLevels(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString(strings.Repeat("  ", i) + "a" + strconv.Itoa(i) + ":\n")
	}
	b.WriteString(strings.Repeat("  ", n+1) + "b: 1")
	return b.String()
}

// TestHostileInputBounded: on every worst-case document, decoding stays
// under 100 MiB of heap, whether the document is refused or parsed.
func TestHostileInputBounded(t *testing.T) {
	for name, src := range worst() {
		t.Run(name, func(t *testing.T) {
			var v any
			peak := heapPeak(func() { _ = Decode(errBad, "x.yaml", []byte(src), &v) })
			t.Logf("%d bytes: peak heap %.1f MiB", len(src), peak)
			if peak > 100 {
				t.Errorf("decoding a %d-byte document took %.0f MiB", len(src), peak)
			}
		})
	}
	// The limits refuse with the line.
	for _, c := range []struct{ src, want string }{
		{"a: " + strings.Repeat("[", 65), "x.yaml:1: collections nested more than 64 deep"},
		{"a: 1\n" + strings.Repeat(" ", 257) + "b: 1\n", "x.yaml:2: indented more than 256 columns"},
		{"a: &x 1\nb: [" + strings.Repeat("*x,", 257) + "]\n", "x.yaml:2: more than 256 aliases"},
		{strings.Repeat("k: 1\n", 10001), "x.yaml:10001: more than 10000 values"},
	} {
		if err := CheckShape(errBad, "x.yaml", []byte(c.src)); err == nil || !errors.Is(err, errBad) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckShape: %v, want %q", err, c.want)
		}
	}
	// Brackets, quotes and stars inside strings and comments count for nothing.
	ok := "a: '[[[[ *b *c'\nb: \"{{{{ \\\" [[[[\"\n# [[[[[[[[ *d *e\nc: x*y\n"
	if err := CheckShape(errBad, "x.yaml", []byte(strings.Repeat(ok, 20))); err != nil {
		t.Errorf("quoted and commented brackets: %v", err)
	}
}

// heapPeak samples the heap in use while f runs, in MiB.
func heapPeak(f func()) float64 {
	runtime.GC()
	var base, m runtime.MemStats
	runtime.ReadMemStats(&base)
	peak := base.HeapInuse
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	for {
		select {
		case <-done:
			runtime.ReadMemStats(&m)
			return float64(max(peak, m.HeapInuse)-base.HeapInuse) / (1 << 20)
		default:
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			runtime.Gosched()
		}
	}
}

// FuzzDecodeMemory: no document the fuzzer finds makes decoding take more
// than 100 MiB of heap, or panic.
func FuzzDecodeMemory(f *testing.F) {
	for _, src := range []string{"a: [1, {b: 2}]\n", "a: &x [1]\nb: *x\n", "a:\n  b:\n    c: 'd'\n"} {
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		var v any
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_ = Decode(errBad, "x.yaml", []byte(src), &v)
		runtime.ReadMemStats(&after)
		if mib := float64(after.TotalAlloc-before.TotalAlloc) / (1 << 20); mib > 100 {
			t.Fatalf("a %d-byte document took %.0f MiB", len(src), mib)
		}
	})
}

// TestAliasesThatMultiply: aliases nested in lists the types allow are
// walked within a bound, not expanded without end.
func TestAliasesThatMultiply(t *testing.T) {
	var b strings.Builder
	b.WriteString("x0: &a0 [[[1]]]\n")
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(&b, "x%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d,", i-1), 80), ","))
	}
	b.WriteString("deep: *a3\n")
	var v struct {
		Deep [][][][][][]int `yaml:"deep"`
		X0   any             `yaml:"x0"`
		X1   any             `yaml:"x1"`
		X2   any             `yaml:"x2"`
		X3   any             `yaml:"x3"`
	}
	err := Decode(errBad, "x.yaml", []byte(b.String()), &v)
	if err == nil || !strings.Contains(err.Error(), "aliases expand the file past") {
		t.Errorf("80^3 expansions: %v", err)
	}
}
