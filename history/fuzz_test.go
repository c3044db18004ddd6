package history_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/history"
)

// seeds adds every committed history of a kind as a seed: the checker's
// testdata and the fuzz corpus under testdata/fuzz.
func seeds(f *testing.F, globs ...string) {
	for _, g := range globs {
		files, _ := filepath.Glob(g)
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err == nil && len(b) < 1<<16 {
				f.Add(b)
			}
		}
	}
}

// Every decoder: never panic; a rejection names a line or says what is
// wrong (never an empty message); what it accepts has valid types.
func checkDecoded(t *testing.T, recs []history.Record, err error) {
	if err != nil {
		if strings.TrimSpace(err.Error()) == "" {
			t.Fatal("empty error message")
		}
		return
	}
	for _, r := range recs {
		switch r.Type {
		case history.Invoke, history.OK, history.Fail, history.Info:
		default:
			t.Fatalf("accepted a record of type %q", r.Type)
		}
	}
}

func FuzzRead(f *testing.F) {
	seeds(f, "../checker/testdata/*.jsonl")
	f.Add([]byte(`{"index":0,"process":1,"type":"invoke","f":"read","key":"k","time":1}` + "\n" + `{"index":1,"process":1,"type":"ok","f":"read","key":"k","value":null,"time":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := history.Read(bytes.NewReader(b))
		if err != nil && !errors.Is(err, history.ErrTruncated) && !strings.Contains(err.Error(), ": ") {
			t.Fatalf("error does not name the line: %v", err)
		}
		checkDecoded(t, recs, err)
	})
}

func FuzzReadJepsenEDN(f *testing.F) {
	seeds(f, "../checker/testdata/*.edn", "testdata/*.edn")
	f.Add([]byte(`[{:type :invoke, :f :read, :value nil, :process 0, :time 1}]`))
	f.Add([]byte(`{:type :invoke, :f :cas, :value [1 2], :process 0, :index 0} {:type :ok :f :cas :value [1 2] :process 0 :index 1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := history.ReadJepsenEDN(bytes.NewReader(b))
		checkDecoded(t, recs, err)
	})
}

func FuzzReadJepsenLog(f *testing.F) {
	seeds(f, "../checker/testdata/*.log", "testdata/*.log")
	f.Add([]byte("INFO  jepsen.util - 0\t:invoke\t:write\t3\nINFO  jepsen.util - 0\t:ok\t:write\t3\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := history.ReadJepsenLog(bytes.NewReader(b))
		checkDecoded(t, recs, err)
	})
}
