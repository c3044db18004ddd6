#!/usr/bin/env python3
"""A test client for faultline's JSON-lines protocol: an in-memory register.

MODE (argv[1]) makes it misbehave on its second request: good (never),
crash (exits), hang (sleeps), garbage (prints a non-response). With a
marker file (argv[2]) it misbehaves only while the marker does not exist,
and creates it: once, not in every life.
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
for n, line in enumerate(sys.stdin, 1):
    req = json.loads(line)
    if n == 2 and mode == "crash":
        sys.exit(3)
    if n == 2 and mode == "hang":
        time.sleep(3600)
    if n == 2 and mode == "garbage":
        print("hello, I am not JSON", flush=True)
        continue
    f, key, value = req["f"], req["key"], req.get("value")
    if f == "read":
        resp = {"type": "ok", "value": state.get(key)}
    elif f == "write":
        state[key] = value
        resp = {"type": "ok"}
    else:
        resp = {"type": "fail", "error": "unsupported"}
    resp["id"] = req["id"]
    print(json.dumps(resp), flush=True)
