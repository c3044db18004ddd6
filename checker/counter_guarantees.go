package checker

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/faultline/faultline/history"
)

// The guarantees of a counter history (increments by non-negative
// amounts, reads), key by key, as for a grow-only (CRDT) counter: a
// client's reads never go down nor below its own acknowledged increments,
// and once updates and faults have ended every node's value lies between
// the acknowledged increments and all those that may have happened.

func decodeCounter(p *pairedOp) (*gop, error) {
	o := &gop{p: p, f: p.inv.F}
	switch p.inv.F {
	case "add":
		if err := json.Unmarshal(p.inv.Value, &o.val); err != nil || o.val < 0 {
			return nil, fmt.Errorf("%w: record %d: add needs a non-negative number, got %s", ErrBadHistory, p.inv.Index, p.inv.Value)
		}
	case "read":
		if p.typ == history.OK {
			if err := json.Unmarshal(p.out, &o.val); err != nil {
				return nil, fmt.Errorf("%w: record %d: read needs a number, got %s", ErrBadHistory, p.inv.Index, p.out)
			}
		}
	default:
		return nil, fmt.Errorf("%w: record %d: unknown counter operation %q", ErrBadHistory, p.inv.Index, p.inv.F)
	}
	return o, nil
}

// examineCounter fills the table for one counter key.
func examineCounter(k *keyOps, t *table, faults []history.FaultWindow, cv *convAcc) {
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
		var last *gop
		var since int64
		var lastAdd *gop
		for _, o := range s {
			if !o.isRead() {
				if o.ok() {
					since += o.val
					lastAdd = o
				}
				continue
			}
			floor := since
			if last != nil {
				floor += last.val
			}
			switch {
			case last != nil && o.val < last.val:
				t.violate(MonotonicReads, proof(k.key, faults, fmt.Sprintf("process %d read %d, then %d", o.p.inv.Process, last.val, o.val), last, o))
			case o.val < floor:
				ops := []*gop{lastAdd, o}
				if last != nil {
					ops = []*gop{last, lastAdd, o}
				}
				t.violate(ReadYourWrites, proof(k.key, faults, fmt.Sprintf("process %d's own acknowledged increments since its last read add up to %d, yet it read %d, below %d", o.p.inv.Process, since, o.val, floor), ops...))
			}
			last, since, lastAdd = o, 0, nil
		}
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
	cv.key(k.key, k.settled, final, func(o *gop) string { return strconv.FormatInt(o.val, 10) })
}
