package checker

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/faultline/faultline/history"
)

// UniqueIDs is the unique-ids workload (Jepsen's): clients ask for ids
// (generate), and every id an acknowledged generate returned must be one
// no other acknowledged generate returned, key by key. A generate whose
// outcome is unknown may have taken an id nobody saw: it proves nothing.
// There is nothing to read back, so no final reads.
var UniqueIDs = &Workload{
	name:         "unique-ids",
	ops:          []Operation{{F: "generate"}},
	decode:       decodeID,
	linearizable: checkIDs,
	examine:      func(*keyOps, *examination) {},
	rows:         []row{{Linearizable, "per key: every acknowledged generate returned an id no other did"}},
	final:        func(o *gop) string { return strconv.FormatInt(o.val, 10) },
}

// decodeID reads the id an acknowledged generate returned: a number.
func decodeID(o *gop) error {
	if !o.ok() {
		return nil
	}
	if err := json.Unmarshal(o.p.out, &o.val); err != nil || len(o.p.out) == 0 || string(o.p.out) == "null" {
		return fmt.Errorf("%w: record %d: generate needs to return a number, got %s", ErrBadHistory, o.p.inv.Index, o.p.out)
	}
	return nil
}

// checkIDs finds ids that more than one acknowledged generate returned.
// A key with no generate is not checked (false); one where none was
// acknowledged is unknown.
func checkIDs(k *keyOps) (KeyResult, bool) {
	if len(k.ops) == 0 {
		return KeyResult{}, false
	}
	kr := KeyResult{Key: k.key, Verdict: Valid}
	by := map[int64]int{}
	for _, o := range k.ops {
		if o.p.typ == history.OK {
			by[o.val]++
			kr.Operations++
		}
	}
	if kr.Operations == 0 {
		kr.Verdict, kr.Note = Unknown, "no generate was acknowledged: no id to compare"
		return kr, true
	}
	var dups []int64
	for id, n := range by {
		if n > 1 {
			dups = append(dups, id)
		}
	}
	if len(dups) > 0 {
		slices.Sort(dups)
		kr.Verdict = Invalid
		kr.Anomalies = append(kr.Anomalies, describeElems("ids returned to more than one acknowledged generate", dups))
	}
	return kr, true
}
