package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"

	"olympos.io/encoding/edn"
)

// Jepsen histories. Two formats are read, both into Records:
//
//   - EDN, as Jepsen stores history.edn: a vector of operation maps, or one
//     map per line, like {:process 7, :type :invoke, :f :cas, :value [2 3]};
//   - the log lines Jepsen's register tests print,
//     "INFO  jepsen.util - 3	:invoke	:cas	[3 0]".
//
// Keywords become strings (:cas -> "cas"), process :nemesis becomes the
// nemesis. Values from jepsen.independent ([key value] tuples, detected by
// writes whose value is a pair) are split into Key and Value. Without a
// :time, records are spaced 1 µs apart in file order.

// ReadJepsenEDN reads a Jepsen EDN history.
func ReadJepsenEDN(r io.Reader) ([]Record, error) {
	dec := edn.NewDecoder(r)
	var ops []map[any]any
	for n := 1; ; n++ {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("EDN value %d: %w", n, err)
		}
		switch v := untag(v).(type) {
		case []any: // the whole history as one vector
			for i, op := range v {
				m, ok := untag(op).(map[any]any)
				if !ok {
					return nil, fmt.Errorf("EDN history element %d is %T, not a map", i+1, op)
				}
				ops = append(ops, m)
			}
		case map[any]any:
			ops = append(ops, v)
		default:
			return nil, fmt.Errorf("EDN value %d is %T, not an operation map", n, v)
		}
	}
	var raws []rawOp
	for i, m := range ops {
		op, err := rawFromEDN(m)
		if err != nil {
			return nil, fmt.Errorf("EDN operation %d: %w", i+1, err)
		}
		raws = append(raws, op)
	}
	return fromRaw(raws)
}

// ReadJepsenLog reads the log lines of a Jepsen register test; lines
// without "jepsen.util - " are skipped. An error names the line.
func ReadJepsenLog(r io.Reader) ([]Record, error) {
	var raws []rawOp
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for line := 1; sc.Scan(); line++ {
		_, rest, ok := strings.Cut(sc.Text(), "jepsen.util - ")
		if !ok {
			continue
		}
		f := strings.Split(strings.TrimRight(rest, " \r"), "\t")
		if len(f) < 3 {
			return nil, fmt.Errorf("line %d: want process, type and f separated by tabs, got %q", line, rest)
		}
		m := map[any]any{edn.Keyword("type"): ednValue(f[1]), edn.Keyword("f"): ednValue(f[2])}
		if p := strings.TrimSpace(f[0]); p == ":nemesis" {
			m[edn.Keyword("process")] = edn.Keyword("nemesis")
		} else {
			var n int64
			if _, err := fmt.Sscanf(p, "%d", &n); err != nil {
				return nil, fmt.Errorf("line %d: process %q is not a number or :nemesis", line, p)
			}
			m[edn.Keyword("process")] = n
		}
		if len(f) > 3 {
			var v any
			if err := edn.UnmarshalString(strings.Join(f[3:], "\t"), &v); err != nil {
				return nil, fmt.Errorf("line %d: value %q: %w", line, f[3], err)
			}
			m[edn.Keyword("value")] = v
		}
		op, err := rawFromEDN(m)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		raws = append(raws, op)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(raws) == 0 {
		return nil, errors.New("no \"jepsen.util - \" lines: not a Jepsen log")
	}
	return fromRaw(raws)
}

func ednValue(s string) any {
	var v any
	if err := edn.UnmarshalString(s, &v); err != nil {
		return s
	}
	return v
}

func untag(v any) any {
	for {
		t, ok := v.(edn.Tag)
		if !ok {
			return v
		}
		v = t.Value
	}
}

type rawOp struct {
	process Process
	typ     Type
	f       string
	value   any
	time    int64
	hasTime bool
}

func rawFromEDN(m map[any]any) (rawOp, error) {
	var op rawOp
	get := func(k string) (any, bool) { v, ok := m[edn.Keyword(k)]; return untag(v), ok }
	switch p, _ := get("process"); p := p.(type) {
	case int64:
		if p < 0 {
			return op, fmt.Errorf("process %d is negative", p)
		}
		op.process = Process(p)
	case edn.Keyword:
		if p != "nemesis" {
			return op, fmt.Errorf("process :%s is not a number or :nemesis", p)
		}
		op.process = Nemesis
	default:
		return op, fmt.Errorf("process %v is not a number or :nemesis", p)
	}
	t, _ := get("type")
	k, ok := t.(edn.Keyword)
	op.typ = Type(k)
	if !ok || !op.typ.valid() {
		return op, fmt.Errorf("type %v is not :invoke, :ok, :fail or :info", t)
	}
	f, _ := get("f")
	switch f := f.(type) {
	case edn.Keyword:
		op.f = string(f)
	case string:
		op.f = f
	default:
		return op, fmt.Errorf("f %v is not a keyword", f)
	}
	op.value, _ = get("value")
	if tm, ok := get("time"); ok {
		if n, ok := tm.(int64); ok {
			op.time, op.hasTime = n, true
		}
	}
	return op, nil
}

// fromRaw numbers the operations, splits independent tuples and turns
// values into JSON.
func fromRaw(raws []rawOp) ([]Record, error) {
	independent := false
	for _, op := range raws {
		if op.process != Nemesis && op.f == "write" {
			if v, ok := op.value.([]any); ok && len(v) == 2 {
				independent = true
				break
			}
		}
	}
	recs := make([]Record, 0, len(raws))
	for i, op := range raws {
		r := Record{Index: int64(i), Process: op.process, Type: op.typ, F: op.f, Time: int64(i) * 1000}
		if op.hasTime {
			r.Time = op.time
		}
		value := op.value
		if independent && op.process != Nemesis {
			pair, ok := value.([]any)
			if !ok || len(pair) != 2 {
				return nil, fmt.Errorf("operation %d: value %v is not a [key value] tuple, though other operations are", i+1, value)
			}
			r.Key = fmt.Sprint(jsonable(pair[0]))
			value = pair[1]
		} else if op.process != Nemesis {
			r.Key = "register"
		}
		b, err := json.Marshal(jsonable(value))
		if err != nil {
			return nil, fmt.Errorf("operation %d: value %v: %w", i+1, value, err)
		}
		if !bytes.Equal(b, []byte("null")) || op.process != Nemesis {
			r.Value = b
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// jsonable turns decoded EDN into values encoding/json can write.
func jsonable(v any) any {
	switch v := untag(v).(type) {
	case edn.Keyword:
		return string(v)
	case edn.Symbol:
		return string(v)
	case *big.Int:
		return v.String()
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = jsonable(x)
		}
		return out
	case map[any]any:
		out := map[string]any{}
		for k, x := range v {
			out[fmt.Sprint(jsonable(k))] = jsonable(x)
		}
		return out
	case map[any]bool: // EDN sets
		var out []any
		for k := range v {
			out = append(out, jsonable(k))
		}
		return out
	}
	return v
}

// Formats ReadFormat understands.
const (
	FormatAuto      = "auto"
	FormatFaultline = "faultline"
	FormatEDN       = "jepsen-edn"
	FormatJepsenLog = "jepsen-log"
)

// ReadFormat reads a history file in the given format; FormatAuto looks at
// the content: JSON lines, Jepsen EDN, or Jepsen log lines. It returns the
// format read.
func ReadFormat(path, format string) ([]Record, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	if format == FormatAuto || format == "" {
		format = detect(b)
	}
	var recs []Record
	switch format {
	case FormatFaultline:
		recs, err = Read(bytes.NewReader(b))
	case FormatEDN:
		recs, err = ReadJepsenEDN(bytes.NewReader(b))
	case FormatJepsenLog:
		recs, err = ReadJepsenLog(bytes.NewReader(b))
	default:
		return nil, "", fmt.Errorf("unknown history format %q (want %s, %s, %s or %s)", format, FormatAuto, FormatFaultline, FormatEDN, FormatJepsenLog)
	}
	if err != nil {
		return recs, format, fmt.Errorf("%s (%s): %w", path, format, err)
	}
	return recs, format, nil
}

func detect(b []byte) string {
	if bytes.Contains(b, []byte("jepsen.util - ")) {
		return FormatJepsenLog
	}
	t := bytes.TrimSpace(b)
	if bytes.HasPrefix(t, []byte("[")) || (bytes.HasPrefix(t, []byte("{")) && !bytes.HasPrefix(t, []byte(`{"`))) || bytes.HasPrefix(t, []byte("#")) {
		return FormatEDN
	}
	return FormatFaultline
}
