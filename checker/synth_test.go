package checker

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/faultline/faultline/history"
)

// synthRegister makes a linearizable register history of n operations
// over keys keys by clients clients: every operation takes effect at a
// random point inside its own interval, and reads and cas see the state at
// that point. With anomaly set, one read late in the history returns a
// value its key never held. Writes and cas write unique values; a tenth
// of writes end info, as timeouts do.
func synthRegister(n, keys, clients int, anomaly bool, seed uint64) []history.Record {
	rng := rand.New(rand.NewPCG(seed, 1))
	type op struct {
		process        int
		f, key         string
		old, val       int64
		call, lin, ret int64
		outcome        history.Type
		read           int64
	}
	ops := make([]op, 0, n)
	clock := make([]int64, clients)
	var next int64
	for i := 0; i < n; i++ {
		c := i % clients
		o := op{process: c, key: "k" + strconv.Itoa(rng.IntN(keys))}
		o.call = clock[c] + int64(rng.IntN(1000))
		o.lin = o.call + 1 + int64(rng.IntN(5000))
		o.ret = o.lin + 1 + int64(rng.IntN(5000))
		clock[c] = o.ret
		switch r := rng.IntN(10); {
		case r < 5:
			o.f = "read"
		case r < 8:
			o.f = "write"
			next++
			o.val = next
		default:
			o.f = "cas"
			next++
			o.val = next
		}
		ops = append(ops, o)
	}
	// Apply in linearization order.
	order := make([]int, len(ops))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return int(ops[a].lin - ops[b].lin) })
	state := map[string]int64{}
	lastRead := map[string]int64{} // a recent value seen, for cas to expect
	for _, i := range order {
		o := &ops[i]
		o.outcome = history.OK
		switch o.f {
		case "read":
			o.read = state[o.key]
			lastRead[o.key] = o.read
		case "write":
			state[o.key] = o.val
			if rng.IntN(10) == 0 {
				o.outcome = history.Info
			}
		case "cas":
			o.old = lastRead[o.key]
			if rng.IntN(2) == 0 {
				o.old = state[o.key]
			}
			if state[o.key] == o.old {
				state[o.key] = o.val
			} else {
				o.outcome = history.Fail
			}
		}
	}
	if anomaly {
		for i := len(ops) * 9 / 10; i < len(ops); i++ {
			if ops[i].f == "read" && ops[i].read != 0 {
				ops[i].read = -7 // never written anywhere
				break
			}
		}
	}
	// Records: invoke and completion, in time order.
	evs := make([]ev, 0, 2*len(ops))
	val := func(v int64) json.RawMessage {
		if v == 0 {
			return json.RawMessage("null")
		}
		return json.RawMessage(strconv.FormatInt(v, 10))
	}
	process := make([]int, clients)
	for c := range process {
		process[c] = c
	}
	for _, o := range ops {
		var in, out json.RawMessage
		switch o.f {
		case "read":
			in, out = json.RawMessage("null"), val(o.read)
		case "write":
			in = val(o.val)
			out = in
		case "cas":
			in = json.RawMessage(fmt.Sprintf("[%s,%d]", val(o.old), o.val))
			out = in
		}
		p := history.Process(process[o.process])
		node := "n" + strconv.Itoa(o.process%3+1)
		evs = append(evs, ev{o.call, history.Record{Process: p, Node: node, Type: history.Invoke, F: o.f, Key: o.key, Value: in, Time: o.call}})
		evs = append(evs, ev{o.ret, history.Record{Process: p, Node: node, Type: o.outcome, F: o.f, Key: o.key, Value: out, Time: o.ret}})
		if o.outcome == history.Info {
			process[o.process] += clients
		}
	}
	return inTimeOrder(evs)
}

// synthSet makes a linearizable set history of n operations over keys
// keys by clients clients: adds of unique elements (one in ten ends
// info) and, one time in two, whole-set reads of the state at the
// operation's linearization point.
func synthSet(n, keys, clients int, seed uint64) []history.Record {
	rng := rand.New(rand.NewPCG(seed, 2))
	type op struct {
		client         int
		key            string
		add            int64 // 0: a read
		call, lin, ret int64
		info           bool
		read           []int64
	}
	ops := make([]op, 0, n)
	clock := make([]int64, clients)
	var next int64
	for i := range n {
		c := i % clients
		o := op{client: c, key: "s" + strconv.Itoa(rng.IntN(keys))}
		o.call = clock[c] + int64(rng.IntN(1000))
		o.lin = o.call + 1 + int64(rng.IntN(5000))
		o.ret = o.lin + 1 + int64(rng.IntN(5000))
		clock[c] = o.ret
		if rng.IntN(2) == 0 {
			next++
			o.add, o.info = next, rng.IntN(10) == 0
		}
		ops = append(ops, o)
	}
	order := make([]int, len(ops))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return int(ops[a].lin - ops[b].lin) })
	state := map[string][]int64{}
	for _, i := range order {
		o := &ops[i]
		if o.add != 0 {
			state[o.key] = append(state[o.key], o.add)
		} else {
			o.read = state[o.key][:len(state[o.key]):len(state[o.key])]
		}
	}
	evs := make([]ev, 0, 2*len(ops))
	process := make([]int, clients)
	for c := range process {
		process[c] = c
	}
	for _, o := range ops {
		p := history.Process(process[o.client])
		node := "n" + strconv.Itoa(o.client%3+1)
		f, in, out, typ := "read", json.RawMessage("null"), json.RawMessage(nil), history.OK
		if o.add != 0 {
			f, in, out = "add", json.RawMessage(strconv.FormatInt(o.add, 10)), json.RawMessage(strconv.FormatInt(o.add, 10))
			if o.info {
				typ = history.Info
				process[o.client] += clients
			}
		} else {
			out, _ = json.Marshal(o.read)
		}
		evs = append(evs, ev{o.call, history.Record{Process: p, Node: node, Type: history.Invoke, F: f, Key: o.key, Value: in, Time: o.call}})
		evs = append(evs, ev{o.ret, history.Record{Process: p, Node: node, Type: typ, F: f, Key: o.key, Value: out, Time: o.ret}})
	}
	return inTimeOrder(evs)
}

// ev is a record at its time, before the history is put in order.
type ev struct {
	t   int64
	rec history.Record
}

// inTimeOrder sorts events by time and numbers the records.
func inTimeOrder(evs []ev) []history.Record {
	slices.SortStableFunc(evs, func(a, b ev) int { return int(a.t - b.t) })
	recs := make([]history.Record, len(evs))
	for i, e := range evs {
		recs[i] = e.rec
		recs[i].Index = int64(i)
	}
	return recs
}
