#!/usr/bin/env python3
"""A client program that answers every operation from its own memory,
without talking to any node: what faultline's JSON-lines path costs on
its own (bench-systems). Each copy has its own register, so the history it
records is not meant to check out."""
import json
import sys

state = {}
out = sys.stdout
for line in sys.stdin:
    req = json.loads(line)
    f = req["f"]
    if f == "hello":
        resp = {"type": "ok", "value": {"protocol": 2, "supports": [], "workloads": ["register"]}}
    elif f == "read":
        resp = {"type": "ok", "value": state.get(req["key"])}
    elif f == "write":
        state[req["key"]] = req["value"]
        resp = {"type": "ok"}
    elif f == "cas":
        old, new = req["value"]
        if state.get(req["key"]) == old:
            state[req["key"]] = new
            resp = {"type": "ok"}
        else:
            resp = {"type": "fail", "error": "compare failed"}
    else:
        resp = {"type": "fail", "error": "unsupported operation " + f}
    resp["id"] = req["id"]
    out.write(json.dumps(resp) + "\n")
    out.flush()
