#!/usr/bin/env python3
"""A test client for faultline's JSON-lines protocol: an in-memory register.

An acquire is a write of the lock's holder, for the tests of operations
that are neither. MODE (argv[1]) makes it misbehave on its second
operation: good (never),
crash (exits), hang (sleeps), garbage (prints a non-response). With a
marker file (argv[2]) it misbehaves only while the marker does not exist,
and creates it: once, not in every life.

It speaks protocol 1, as programs written before hello did: it answers
hello like any request it does not know. Modes v2 (answers hello, ready
and leader), v2-set (says it runs the set workload only), crash-hello
(exits on hello) and not-ready (answers ready with fail) test protocol 2.
"""
import json
import os
import sys
import time

mode = sys.argv[1] if len(sys.argv) > 1 else "good"
if len(sys.argv) > 2:
    if os.path.exists(sys.argv[2]):
        mode = "good"
    else:
        open(sys.argv[2], "w").close()
state = {}
n = 0
for line in sys.stdin:
    req = json.loads(line)
    f, key, value = req["f"], req["key"], req.get("value")
    if f == "hello" and mode == "crash-hello":
        sys.exit(5)
    if f == "hello" and mode.startswith("v2") or f == "hello" and mode == "not-ready":
        workloads = ["set"] if mode == "v2-set" else ["register"]
        resp = {"type": "ok", "value": {"protocol": 2, "supports": ["ready", "leader"], "workloads": workloads}}
    elif f == "ready":
        resp = {"type": "fail", "error": "still electing"} if mode == "not-ready" else {"type": "ok"}
    elif f == "leader":
        resp = {"type": "ok", "value": os.environ.get("LEADER_IS")}
    elif f in ("read", "write", "acquire"):
        n += 1
        if n == 2 and mode == "crash":
            sys.exit(3)
        if n == 2 and mode == "hang":
            time.sleep(3600)
        if n == 2 and mode == "garbage":
            print("hello, I am not JSON", flush=True)
            continue
        if f == "read":
            resp = {"type": "ok", "value": state.get(key)}
        else:
            state[key] = value
            resp = {"type": "ok"}
    else:
        resp = {"type": "fail", "error": "unsupported operation " + f}
    resp["id"] = req["id"]
    print(json.dumps(resp), flush=True)
