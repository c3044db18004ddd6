package history

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"olympos.io/encoding/edn"

	"github.com/faultline/faultline/internal/regfile"
)

// Jepsen histories. Two formats are read, both into Records:
//
//   - EDN, as Jepsen stores history.edn: a vector of operation maps, or one
//     map per line, like {:process 7, :type :invoke, :f :cas, :value [2 3]};
//   - the log lines Jepsen's tests print,
//     "INFO  jepsen.util - 3	:invoke	:cas	[3 0]": process, type and f
//     separated by any whitespace, then the value (one EDN value, spaces and
//     all: [4 4], "a b"), then, if anything follows it, the error.
//
// They are read as Jepsen means them:
//
//   - keywords become strings (:cas -> "cas"), EDN sets become JSON arrays
//     (in a fixed order), vectors and lists stay arrays, duplicates and all;
//   - :index and :time become Index and Time when every operation has them
//     (else records are numbered and spaced 1 µs apart in file order, as
//     Knossos orders them); :error becomes Error;
//   - values from jepsen.independent ([key value] tuples) are split into
//     Key and Value, for a whole history or not at all (see independent);
//     otherwise every client operation has the key "register";
//   - a completed (:ok) read of nil is, by default, a read whose outcome is
//     unknown (Knossos's register models: nil matches any state), see
//     NilReadMeaning;
//   - process :nemesis becomes the nemesis, and its operations are read so
//     that FaultWindows draws Jepsen's faults (see nemesisOps).

// NilReadMeaning says what a completed Jepsen read of nil means.
type NilReadMeaning string

const (
	// NilUnknown: the value is unknown, as in Knossos's register and
	// cas-register models, where a read of nil matches any state. Such a
	// read is imported as a completion of type Info (unknown outcome),
	// which every checker reads as observing nothing.
	NilUnknown NilReadMeaning = "unknown"
	// NilAbsent: the register has no value, as in faultline's own
	// histories: an ok read of null.
	NilAbsent NilReadMeaning = "absent"
)

// ParseNilReadMeaning reads "unknown" or "absent".
func ParseNilReadMeaning(s string) (NilReadMeaning, error) {
	switch m := NilReadMeaning(s); m {
	case NilUnknown, NilAbsent:
		return m, nil
	}
	return "", fmt.Errorf("nil reads %q: want %s or %s", s, NilUnknown, NilAbsent)
}

// JepsenOptions say how Jepsen histories are read. The zero value is
// Jepsen's meaning.
type JepsenOptions struct {
	// NilReads is what an ok read of nil means; "" is NilUnknown.
	NilReads NilReadMeaning
}

func (o JepsenOptions) nilUnknown() (bool, error) {
	switch o.NilReads {
	case "", NilUnknown:
		return true, nil
	case NilAbsent:
		return false, nil
	}
	_, err := ParseNilReadMeaning(string(o.NilReads))
	return false, err
}

// NilReadError is the Error of an ok read of nil imported as unknown.
const NilReadError = "read returned nil: value unknown (Knossos register semantics; -jepsen-nil absent reads it as no value)"

// ReadJepsenEDN reads a Jepsen EDN history with Jepsen's meaning
// (JepsenOptions{}).
func ReadJepsenEDN(r io.Reader) ([]Record, error) {
	return ReadJepsenEDNWith(r, JepsenOptions{})
}

// ReadJepsenEDNWith reads a Jepsen EDN history. An error names the
// operation.
func ReadJepsenEDNWith(r io.Reader, o JepsenOptions) ([]Record, error) {
	if _, err := o.nilUnknown(); err != nil {
		return nil, err
	}
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
	return fromRaw(raws, o)
}

// ReadJepsenLog reads Jepsen's log lines with Jepsen's meaning
// (JepsenOptions{}).
func ReadJepsenLog(r io.Reader) ([]Record, error) {
	return ReadJepsenLogWith(r, JepsenOptions{})
}

// ReadJepsenLogWith reads the operations Jepsen logs, one a line:
// "jepsen.util - " then process, type, f, value and error, as
// jepsen.util/op->str writes them. Lines without "jepsen.util - " are
// skipped. An error names the line.
func ReadJepsenLogWith(r io.Reader, o JepsenOptions) ([]Record, error) {
	if _, err := o.nilUnknown(); err != nil {
		return nil, err
	}
	var raws []rawOp
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for line := 1; sc.Scan(); line++ {
		_, rest, ok := strings.Cut(sc.Text(), "jepsen.util - ")
		if !ok {
			continue
		}
		m, err := logOp(rest)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
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
	return fromRaw(raws, o)
}

// logOp reads what follows "jepsen.util - ": process, type and f, each
// one word, then the value (the first EDN value of the rest, which may hold
// spaces, or nothing), then the error (whatever follows the value).
func logOp(rest string) (map[any]any, error) {
	var words [3]string
	s := rest
	for i := range words {
		s = strings.TrimLeft(s, " \t\r")
		end := strings.IndexAny(s, " \t\r")
		if end < 0 {
			end = len(s)
		}
		words[i], s = s[:end], s[end:]
	}
	if words[2] == "" {
		return nil, fmt.Errorf("want process, type and f separated by whitespace, got %q", rest)
	}
	m := map[any]any{edn.Keyword("type"): ednValue(words[1]), edn.Keyword("f"): ednValue(words[2])}
	if p := words[0]; p == ":nemesis" {
		m[edn.Keyword("process")] = edn.Keyword("nemesis")
	} else if n, err := strconv.ParseInt(p, 10, 64); err == nil {
		m[edn.Keyword("process")] = n
	} else {
		return nil, fmt.Errorf("process %q is not a number or :nemesis", p)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return m, nil
	}
	n := ednFormLen(s)
	var v any
	if err := edn.UnmarshalString(s[:n], &v); err != nil {
		return nil, fmt.Errorf("value %q: %w", s[:n], err)
	}
	m[edn.Keyword("value")] = v
	if e := strings.TrimSpace(s[n:]); e != "" {
		m[edn.Keyword("error")] = e
	}
	return m, nil
}

// ednFormLen is the length of the EDN value s begins with (s starts with
// no whitespace): a token, a string, or a bracketed form, with any tags
// (#inst, #jepsen.history.Op) before it. What follows is not looked at.
func ednFormLen(s string) int {
	depth := 0
	for i := 0; i < len(s); {
		c := s[i]
		done := false // a value ended at i
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',':
			i++
		case c == ';': // a comment, to the end of the line
			return len(s)
		case c == '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
			i, done = min(i+1, len(s)), true
		case c == '(' || c == '[' || c == '{':
			depth++
			i++
		case c == '#' && i+1 < len(s) && s[i+1] == '{':
			depth++
			i += 2
		case c == ')' || c == ']' || c == '}':
			depth--
			i, done = i+1, true
		case c == '#': // a tag (or #_): the value follows it
			i = tokenEnd(s, i+1)
		case c == '\\': // a character: \a, \space, \(
			i = tokenEnd(s, min(i+2, len(s)))
			done = true
		default:
			i, done = tokenEnd(s, i), true
		}
		if done && depth <= 0 {
			return i
		}
	}
	return len(s)
}

// tokenEnd is where the token at s[i:] ends.
func tokenEnd(s string, i int) int {
	for i < len(s) && !strings.ContainsRune(" \t\r\n,;\"()[]{}", rune(s[i])) {
		i++
	}
	return i
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
	process  Process
	typ      Type
	f        string
	value    any
	err      string
	time     int64
	hasTime  bool
	index    int64
	hasIndex bool
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
	if e, ok := get("error"); ok && e != nil {
		op.err = ednText(e)
	}
	for _, n := range []struct {
		key string
		v   *int64
		has *bool
	}{{"time", &op.time, &op.hasTime}, {"index", &op.index, &op.hasIndex}} {
		if v, ok := get(n.key); ok {
			i, ok := v.(int64)
			if !ok {
				return op, fmt.Errorf(":%s %v is not an integer", n.key, v)
			}
			*n.v, *n.has = i, true
		}
	}
	return op, nil
}

// ednText writes an error as Jepsen's log does: a string as it is,
// anything else as EDN.
func ednText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if b, err := edn.Marshal(v); err == nil {
		return string(b)
	}
	return fmt.Sprint(v)
}

// independent decides whether a history comes from jepsen.independent, for
// the whole history: it does when some client operation's value can only
// be a [key value] tuple. That is a two-element vector as the value of any
// operation but a cas or an ok read; a cas of [key [old new]]; an ok read
// of [key nil], [key [...]], [key #{...}] or [key {...}]. A plain cas
// [old new] or a read of a two-element list [1 2] says nothing. It returns
// the index of the first such operation, or -1.
func independent(raws []rawOp) int {
	for i, op := range raws {
		if op.process == Nemesis {
			continue
		}
		pair, ok := op.value.([]any)
		if !ok || len(pair) != 2 {
			continue
		}
		second := untag(pair[1])
		_, coll := second.([]any)
		switch second.(type) {
		case map[any]bool, map[any]any:
			coll = true
		}
		switch {
		case op.f == "cas":
			if v, ok := second.([]any); ok && len(v) == 2 {
				return i
			}
		case op.f == "read" && op.typ == OK:
			if second == nil || coll {
				return i
			}
		default:
			return i
		}
	}
	return -1
}

// nemesisOps reads Jepsen's nemesis operations into the events
// FaultWindows reads: a fault begins at its invocation (confirmed by an
// info completion) and ends at the invocation of one named in FaultEnds.
//
// Jepsen's nemesis logs each operation twice, as an invocation and as a
// completion, both usually :info, the completion carrying what was done
// ([:isolated {...}], "Cut off ..."): two consecutive nemesis operations
// with the same f (the second not an :invoke) are such a pair, and the
// first becomes an Invoke, the time the window begins when the completion
// says the fault is in force. A nemesis operation with
// no partner (faultline's way, or Jepsen's :start and :stop written once)
// stands alone.
//
// An operation ends the fault in force when its f is in FaultEnds, starts
// with "stop-" (:stop-partition), is :reset-clock, or is :start while the
// fault in force was begun by :kill (Jepsen's db nemesis: :kill, then
// :start the node again). An end whose f is not in FaultEnds is renamed
// "stop" (:start after :kill: "restart"), invocation and completion
// alike, so that FaultWindows ends the window at the invocation. Any other
// completion of type info begins a fault, labelled with its f and value;
// a :fail completion begins or ends nothing.
func nemesisOps(raws []rawOp) {
	var nem []int
	for i := range raws {
		if raws[i].process == Nemesis {
			nem = append(nem, i)
		}
	}
	inForce := "" // f of the fault begun last and not ended
	for j := 0; j < len(nem); j++ {
		op := &raws[nem[j]]
		var next *rawOp
		if j+1 < len(nem) && raws[nem[j+1]].f == op.f && raws[nem[j+1]].typ != Invoke {
			next = &raws[nem[j+1]]
		}
		var group []*rawOp
		completed := op // the operation that says what happened, if any
		switch {
		case next != nil && (op.typ == Invoke || op.typ == Info):
			op.typ = Invoke
			group, completed = []*rawOp{op, next}, next
			j++
		case op.typ == Invoke:
			group, completed = []*rawOp{op}, nil
		default:
			group = []*rawOp{op}
		}
		if completed != nil && completed.typ == Fail {
			continue // nothing began or ended
		}
		f := op.f
		end := slices.Contains(FaultEnds, f) || strings.HasPrefix(f, "stop-") || f == "reset-clock" || (f == "start" && inForce == "kill")
		switch {
		case end:
			to := f
			if !slices.Contains(FaultEnds, f) {
				to = "stop"
				if f == "start" {
					to = "restart"
				}
			}
			for _, g := range group {
				g.f = to
			}
			inForce = ""
		case completed != nil && completed.typ == Info:
			inForce = f
		}
	}
}

// fromRaw numbers the operations, reads the nemesis', splits independent
// tuples, reads nil reads and turns values into JSON.
func fromRaw(raws []rawOp, o JepsenOptions) ([]Record, error) {
	nilUnknown, err := o.nilUnknown()
	if err != nil {
		return nil, err
	}
	nemesisOps(raws)
	allTime, allIndex := true, true
	for _, op := range raws {
		allTime = allTime && op.hasTime
		allIndex = allIndex && op.hasIndex
	}
	tuples := independent(raws)
	recs := make([]Record, 0, len(raws))
	for i, op := range raws {
		r := Record{Index: int64(i), Process: op.process, Type: op.typ, F: op.f, Time: int64(i) * 1000, Error: op.err}
		if allIndex {
			r.Index = op.index
		}
		if allTime {
			r.Time = op.time
		}
		value := op.value
		if tuples >= 0 && op.process != Nemesis {
			pair, ok := value.([]any)
			if !ok || len(pair) != 2 {
				return nil, fmt.Errorf("operation %d: value %v is not a [key value] tuple, though operation %d's value %v is (jepsen.independent)", i+1, ednText(value), tuples+1, ednText(raws[tuples].value))
			}
			r.Key = fmt.Sprint(jsonable(pair[0]))
			value = pair[1]
		} else if op.process != Nemesis {
			r.Key = "register"
		}
		if nilUnknown && op.process != Nemesis && op.f == "read" && op.typ == OK && untag(value) == nil {
			r.Type, r.Error = Info, NilReadError
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
	case *any: // the decoder's stand-in for a vector or map in a set or as a key
		return jsonable(*v)
	case edn.Keyword:
		return string(v)
	case edn.Symbol:
		return string(v)
	case *big.Int:
		return v.String()
	case []any: // vectors and lists: order and duplicates kept
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
	case map[any]bool: // EDN sets: an array, numbers first in order, then the rest by their JSON
		out := make([]any, 0, len(v))
		for k := range v {
			out = append(out, jsonable(k))
		}
		slices.SortFunc(out, compareJSON)
		return out
	}
	return v
}

func compareJSON(a, b any) int {
	ia, aInt := a.(int64)
	ib, bInt := b.(int64)
	if aInt && bInt {
		return cmp.Compare(ia, ib)
	}
	fa, aNum := number(a)
	fb, bNum := number(b)
	switch {
	case aNum && bNum:
		if c := cmp.Compare(fa, fb); c != 0 {
			return c
		}
	case aNum:
		return -1
	case bNum:
		return 1
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Compare(ja, jb)
}

func number(v any) (float64, bool) {
	switch v := v.(type) {
	case int64:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}

// Formats ReadFormat understands.
const (
	FormatAuto      = "auto"
	FormatFaultline = "faultline"
	FormatEDN       = "jepsen-edn"
	FormatJepsenLog = "jepsen-log"
)

// ReadFormat reads a history file as ReadFormatWith does, Jepsen's with
// Jepsen's meaning (JepsenOptions{}).
func ReadFormat(path, format string) ([]Record, string, error) {
	return ReadFormatWith(path, format, JepsenOptions{})
}

// ReadFormatWith reads a history file in the given format; FormatAuto
// looks at the content: JSON lines, Jepsen EDN, or Jepsen log lines. o
// applies to Jepsen's formats only. It returns the format read.
func ReadFormatWith(path, format string, o JepsenOptions) ([]Record, string, error) {
	if _, err := o.nilUnknown(); err != nil {
		return nil, "", err
	}
	b, err := regfile.ReadFile(path)
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
		recs, err = ReadJepsenEDNWith(bytes.NewReader(b), o)
	case FormatJepsenLog:
		recs, err = ReadJepsenLogWith(bytes.NewReader(b), o)
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
