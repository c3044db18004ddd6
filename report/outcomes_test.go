package report

import (
	"reflect"
	"testing"

	"github.com/faultline/faultline/history"
)

func TestOutcomeTable(t *testing.T) {
	rec := func(node, f string, typ history.Type, err string) history.Record {
		return history.Record{Process: 1, Node: node, F: f, Type: typ, Error: err}
	}
	recs := []history.Record{
		rec("n1", "read", history.Invoke, ""),
		rec("n1", "read", history.OK, ""),
		rec("n1", "read", history.Fail, "context deadline exceeded"),
		rec("n1", "read", history.Info, "rpc error: code = DeadlineExceeded desc = context deadline exceeded"),
		rec("n2", "cas", history.Fail, ""),
		rec("n2", "cas", history.Fail, ""),
		rec("n2", "cas", history.Info, "dial tcp 10.213.0.12:2379: connect: connection refused"),
		{Process: history.Nemesis, F: "partition", Type: history.Info},
	}
	want := []outcomeRow{
		{F: "cas", Node: "n2", Fail: 2, Info: 1, Why: "compare failed 2, connection refused 1"},
		{F: "read", Node: "n1", OK: 1, Fail: 1, Info: 1, Why: "timeout 2"},
	}
	if got := outcomeTable(recs); !reflect.DeepEqual(got, want) {
		t.Errorf("outcomes:\n%+v\nwant\n%+v", got, want)
	}
}
