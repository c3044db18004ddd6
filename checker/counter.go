package checker

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/faultline/faultline/history"
)

// Counter is the counter workload (increments by non-negative amounts,
// reads, on independent keys), judged as a grow-only (CRDT) counter: a
// read lies between the increments acknowledged before it began and all
// those invoked before it ended (its linearizability check), a client's
// reads never go down nor below its own acknowledged increments, and once
// updates and faults have ended every node's value lies between the
// acknowledged increments and all those that may have happened.
var Counter = &Workload{
	name:         "counter",
	ops:          []Operation{{F: "read", Read: true}, {F: "add"}},
	decode:       decodeCounter,
	linearizable: checkCounterKey,
	examine:      examineCounter,
	rows: []row{
		{Linearizable, "per key: every read between the increments acknowledged before it and those attempted"},
		{Causal, causalScope}, {ReadYourWrites, sessionScope}, {MonotonicReads, sessionScope},
		{NoLostWrites, "final reads between the acknowledged increments and all those attempted, on every node"},
		{Converges, convergesScope},
	},
	final: counterFinal,
}

func counterFinal(o *gop) string { return strconv.FormatInt(o.val, 10) }

// decodeCounter reads a counter operation's values: an increment's
// amount, what a successful read returned.
func decodeCounter(o *gop) error {
	switch {
	case !o.read:
		if err := json.Unmarshal(o.p.inv.Value, &o.val); err != nil || o.val < 0 {
			return fmt.Errorf("%w: record %d: add needs a non-negative number, got %s", ErrBadHistory, o.p.inv.Index, o.p.inv.Value)
		}
	case o.ok():
		if err := json.Unmarshal(o.p.out, &o.val); err != nil {
			return fmt.Errorf("%w: record %d: read needs a number, got %s", ErrBadHistory, o.p.inv.Index, o.p.out)
		}
	}
	return nil
}

// checkCounterKey checks one counter: every successful read must lie
// between the sum of the increments acknowledged before it began and the
// sum of all increments, acknowledged or not, invoked before it ended. A
// key with neither a successful read nor an increment that may have
// happened is not checked (false).
func checkCounterKey(k *keyOps) (KeyResult, bool) {
	var adds, reads []*gop
	for _, o := range k.ops {
		switch {
		case !o.read && o.p.typ != history.Fail:
			adds = append(adds, o)
		case o.read && o.ok():
			reads = append(reads, o)
		}
	}
	if len(adds) == 0 && len(reads) == 0 {
		return KeyResult{}, false
	}
	kr := KeyResult{Key: k.key, Verdict: Valid, Operations: len(adds) + len(reads)}
	bad := 0
	for _, r := range reads {
		var lo, hi int64
		for _, a := range adds {
			if a.ok() && a.p.ret < r.p.call {
				lo += a.val
			}
			if a.p.call < r.p.ret {
				hi += a.val
			}
		}
		if r.val < lo || r.val > hi {
			bad++
			if len(kr.Anomalies) < 5 {
				kr.Anomalies = append(kr.Anomalies, fmt.Sprintf("read %d by process %d at %.3fs, but it must lie between %d and %d", r.val, r.p.inv.Process, seconds(r.p.start), lo, hi))
			}
		}
	}
	if bad > 0 {
		kr.Verdict = Invalid
		if bad > len(kr.Anomalies) {
			kr.Anomalies = append(kr.Anomalies, fmt.Sprintf("... %d reads out of bounds in all", bad))
		}
	}
	return kr, true
}

// examineCounter fills the table for one counter key.
func examineCounter(k *keyOps, x *examination) {
	t, faults := x.t, x.faults
	var acked, maybe int64
	for _, o := range k.ops {
		switch {
		case o.isRead():
		case o.ok():
			acked += o.val
		case o.unknown():
			maybe += o.val
		}
	}
	for _, s := range k.sessions() {
		counterSession(k.key, s, t, faults)
	}
	final := k.finalReads()
	if len(final) == 0 {
		t.undecided(NoLostWrites, "some keys have no successful read made after their updates and the faults ended")
	}
	for _, f := range lastPerNode(final) {
		switch {
		case f.val < acked:
			t.violate(NoLostWrites, proof(k.key, faults, fmt.Sprintf("final read%s returned %d, but the acknowledged increments add up to %d: %d lost", onNode(f.p.inv.Node), f.val, acked, acked-f.val), f))
		case f.val > acked+maybe:
			t.violate(Linearizable, proof(k.key, faults, fmt.Sprintf("final read%s returned %d, more than every increment attempted (%d acknowledged, %d unknown)", onNode(f.p.inv.Node), f.val, acked, maybe), f))
		}
	}
	x.cv.key(k.key, final, counterFinal)
}

// counterSession checks one session's reads. Increments only add, so a
// read sees at least what it must: read-your-writes, the session's own
// acknowledged increments; monotonic reads, the previous read's value;
// both at once (causal), the previous read's value plus the session's
// increments since, which that read could not see (they began after it
// ended).
func counterSession(key string, s []*gop, t *table, faults []history.FaultWindow) {
	var last, lastAdd *gop
	var own, since int64
	for _, o := range s {
		if !o.isRead() {
			if o.ok() {
				own += o.val
				since += o.val
				lastAdd = o
			}
			continue
		}
		if last != nil && o.val < last.val {
			t.violate(MonotonicReads, proof(key, faults, fmt.Sprintf("process %d read %d, then %d", o.p.inv.Process, last.val, o.val), last, o))
		}
		if o.val < own {
			t.violate(ReadYourWrites, proof(key, faults, fmt.Sprintf("process %d's own acknowledged increments add up to %d, yet it read %d", o.p.inv.Process, own, o.val), lastAdd, o))
		}
		if last != nil && lastAdd != nil && o.val < last.val+since {
			t.violate(Causal, proof(key, faults, fmt.Sprintf("process %d read %d, then its own acknowledged increments added %d, yet it read %d, below %d", o.p.inv.Process, last.val, since, o.val, last.val+since), last, lastAdd, o))
		}
		last, since = o, 0
	}
}
