// Package history holds the record types every other faultline package
// shares: one Record per line of history.jsonl, for client operations and
// nemesis events alike. It imports nothing of faultline's.
//
// Records enter through a Writer, which appends one JSON object per line and
// flushes it to the file before returning, so a crash of the harness loses
// at most the operations still in flight. They leave through Read, which
// parses a history file back and names the line of any record it cannot
// read, or through the Jepsen readers (jepsen.go). Pair (pair.go) makes
// the operations, invocation and completion together, once for every
// reader of a history; events.go and faults.go hold the values the
// nemesis records and the fault windows read from them; PortRange
// (ports.go) is the one type of a port range, a system's and a fault's.
package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/faultline/faultline/internal/regfile"
)

// Type says what a record is, following Jepsen: an invoke, then ok (it
// happened), fail (it certainly did not happen) or info (unknown outcome, or
// an event that is not a client operation).
type Type string

const (
	Invoke Type = "invoke"
	OK     Type = "ok"
	Fail   Type = "fail"
	Info   Type = "info"
)

func (t Type) valid() bool {
	switch t {
	case Invoke, OK, Fail, Info:
		return true
	}
	return false
}

// Process identifies the logical process behind a record: a client number
// (0, 1, ...) or the nemesis. It is written as a JSON number for clients and
// as the string "nemesis" for the nemesis.
type Process int

// Nemesis is the process of every fault event.
const Nemesis Process = -1

func (p Process) String() string {
	if p == Nemesis {
		return "nemesis"
	}
	return strconv.Itoa(int(p))
}

// MarshalJSON writes a client process as a number and the nemesis as "nemesis".
func (p Process) MarshalJSON() ([]byte, error) {
	if p == Nemesis {
		return []byte(`"nemesis"`), nil
	}
	if p < 0 {
		return nil, fmt.Errorf("invalid process %d", int(p))
	}
	return strconv.AppendInt(nil, int64(p), 10), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (p *Process) UnmarshalJSON(b []byte) error {
	if string(b) == `"nemesis"` {
		*p = Nemesis
		return nil
	}
	n, err := strconv.Atoi(string(b))
	if err != nil || n < 0 {
		return fmt.Errorf("process must be a non-negative number or \"nemesis\", got %s", b)
	}
	*p = Process(n)
	return nil
}

// Record is one line of history.jsonl.
//
// Value is kept as raw JSON: each workload defines what its values look like
// (a register read returns a number or null, a compare-and-set carries
// [old, new]) and each checker model decodes its own. Fault events carry a
// description of the fault.
type Record struct {
	Index   int64           `json:"index"`
	Process Process         `json:"process"`
	Node    string          `json:"node,omitempty"`
	Type    Type            `json:"type"`
	F       string          `json:"f"`
	Key     string          `json:"key,omitempty"`
	Value   json.RawMessage `json:"value,omitempty"`
	Error   string          `json:"error,omitempty"`
	// Time is monotonic nanoseconds since the history's zero: the
	// workload's start in a faultline run (Writer.Rebase).
	Time int64 `json:"time"`
}

// Writer appends records to a history file. It is safe for concurrent use;
// it assigns each record its index and time, and every Append has reached the
// operating system before it returns.
type Writer struct {
	mu     sync.Mutex
	f      *os.File
	start  time.Time
	next   int64
	buf    bytes.Buffer
	err    error
	counts map[Type]int64 // client completions so far
}

// Create creates (or truncates) a history file at path. Times in the records
// count from start, which must carry a monotonic clock reading (time.Now()).
func Create(path string, start time.Time) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create history: %w", err)
	}
	return &Writer{f: f, start: start, counts: map[Type]int64{}}, nil
}

// Rebase moves the zero of the history's clock to start (the workload's
// start, so that every time a user sees counts from the same zero as the
// nemesis timeline). Only before the first record.
func (w *Writer) Rebase(start time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.next > 0 {
		return errors.New("history: rebase after a record was written")
	}
	w.start = start
	return nil
}

// Since is the time of a record made now, in nanoseconds since the
// history's zero.
func (w *Writer) Since() int64 { return int64(time.Since(w.start)) }

// Append stamps r with the next index and the current time, writes it as one
// line and returns the stamped record. After the first write error every
// Append returns that error.
func (w *Writer) Append(r Record) (Record, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return r, w.err
	}
	r.Index = w.next
	r.Time = int64(time.Since(w.start))
	w.buf.Reset()
	enc := json.NewEncoder(&w.buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return r, fmt.Errorf("encode history record: %w", err)
	}
	if _, err := w.f.Write(w.buf.Bytes()); err != nil {
		w.err = fmt.Errorf("append to history %s: %w", w.f.Name(), err)
		return r, w.err
	}
	w.next++
	if r.Process != Nemesis && r.Type != Invoke {
		w.counts[r.Type]++
	}
	return r, nil
}

// Completed counts the client operations completed so far: ok, fail, info.
func (w *Writer) Completed() (ok, fail, info int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.counts[OK], w.counts[Fail], w.counts[Info]
}

// Close syncs and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	serr := w.f.Sync()
	cerr := w.f.Close()
	w.f = nil
	if w.err == nil {
		w.err = errors.New("history closed")
	}
	return errors.Join(serr, cerr)
}

// ReadFile reads a history file written by Writer.
func ReadFile(path string) (_ []Record, err error) {
	f, err := regfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	recs, err := Read(f)
	if err != nil {
		return recs, fmt.Errorf("%s:%w", path, err)
	}
	return recs, nil
}

// ErrTruncated marks a history whose last line was cut short, as when the
// harness was killed while writing it. The records before it are returned
// with the error and are sound: every earlier line ended with its newline.
var ErrTruncated = errors.New("history ends with an incomplete line")

// maxLine bounds one record's line.
const maxLine = 16 * 1024 * 1024

// Read parses records, one JSON object per line; blank lines are skipped. An
// error names the line ("12: ...") and the records read before it are
// returned with it. A last line without its newline that does not parse is
// reported as ErrTruncated: the caller decides whether the records before
// it are worth checking (faultline check says so and checks them).
func Read(r io.Reader) ([]Record, error) {
	var recs []Record
	br := bufio.NewReaderSize(r, 64*1024)
	line := 0
	for {
		raw, err := readLine(br)
		if len(raw) == 0 && err == io.EOF {
			return recs, nil
		}
		if err != nil && err != io.EOF {
			return recs, fmt.Errorf("%d: %w", line+1, err)
		}
		line++
		complete := err == nil
		b := bytes.TrimSpace(raw)
		if len(b) == 0 {
			continue
		}
		var rec Record
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		derr := dec.Decode(&rec)
		if derr == nil && dec.More() {
			derr = errors.New("more than one JSON value on the line")
		}
		if derr != nil {
			if !complete {
				return recs, fmt.Errorf("%d: %w (%d bytes, the run was probably killed while writing it): %w", line, ErrTruncated, len(raw), derr)
			}
			return recs, fmt.Errorf("%d: bad history record: %w", line, derr)
		}
		if !rec.Type.valid() {
			return recs, fmt.Errorf("%d: bad history record: type %q is not invoke, ok, fail or info", line, rec.Type)
		}
		recs = append(recs, rec)
		if !complete {
			return recs, nil
		}
	}
}

// readLine returns one line without its newline; io.EOF with the bytes of
// a last line that has none.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxLine {
			return nil, fmt.Errorf("line longer than %d bytes", maxLine)
		}
		switch err {
		case nil:
			return line[:len(line)-1], nil
		case bufio.ErrBufferFull:
			continue
		default:
			return line, err
		}
	}
}
