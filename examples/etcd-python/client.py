#!/usr/bin/env python3
"""A faultline client program for etcd, in Python with no third-party code.

faultline starts one copy per logical client and sends it one JSON request
per line on standard input; the program answers one JSON response per line
on standard output (see docs/adapters.md). It talks to its node through
etcd's JSON gateway (/v3/kv/...), so it needs nothing but the standard
library. It implements the register workload (read, write, cas) and
protocol 2's hello, ready and leader requests.

  request:  {"id": 7, "f": "cas", "key": "k1", "value": [3, 4]}
  response: {"id": 7, "type": "ok"}   (or "fail" / "info", with "error")

  request:  {"id": 1, "f": "hello", "key": "", "value": {"protocol": 2, ...}}
  response: {"id": 1, "type": "ok", "value": {"protocol": 2, "supports": ["ready", "leader"], "workloads": ["register"]}}

Reads that error are "fail" (they change nothing); writes and compare-and-
sets that error are "info" (they may have been applied).
"""
import base64
import http.client
import json
import os
import socket
import sys
import urllib.parse

ENDPOINT = os.environ["FAULTLINE_ENDPOINT"]
WORKLOAD = os.environ.get("FAULTLINE_WORKLOAD", "register")
TIMEOUT = float(os.environ.get("FAULTLINE_OP_TIMEOUT", "1")) * 0.9
SERIALIZABLE = os.environ.get("SERIALIZABLE_READS") == "1" or os.environ.get("FAULTLINE_READS") == "serializable"


def b64(s):
    return base64.b64encode(str(s).encode()).decode()


# One connection to the node, kept open between operations (http.client
# uses no proxy: the node is reached directly). After any error it is
# closed, and the next operation opens a new one.
_url = urllib.parse.urlsplit(ENDPOINT)
_conn = None


class BadStatus(OSError):
    pass


def call(path, body):
    global _conn
    if _conn is None:
        _conn = http.client.HTTPConnection(_url.hostname, _url.port or 80, timeout=TIMEOUT)
    try:
        _conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        resp = _conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise BadStatus("%s: %d %s" % (path, resp.status, data[:200].decode(errors="replace")))
        return json.loads(data)
    except Exception:
        _conn.close()
        _conn = None
        raise


def handle(f, key, value):
    if f == "hello":
        return {"type": "ok", "value": {"protocol": 2, "supports": ["ready", "leader"], "workloads": ["register"]}}
    if f == "ready":
        # A linearizable read needs an elected leader and a quorum behind it.
        call("/v3/kv/range", {"key": b64("faultline-ready")})
        return {"type": "ok"}
    if f == "leader":
        # This member's view: the leader's ID, mapped to its name.
        leader = call("/v3/maintenance/status", {}).get("leader")
        for m in call("/v3/cluster/member/list", {}).get("members", []):
            if m.get("ID") == leader:
                return {"type": "ok", "value": m.get("name")}
        return {"type": "ok", "value": None}
    if f == "read":
        resp = call("/v3/kv/range", {"key": b64(key), "serializable": SERIALIZABLE})
        kvs = resp.get("kvs", [])
        if not kvs:
            return {"type": "ok", "value": None}
        return {"type": "ok", "value": int(base64.b64decode(kvs[0]["value"]))}
    if f == "write":
        call("/v3/kv/put", {"key": b64(key), "value": b64(value)})
        return {"type": "ok"}
    if f == "cas":
        old, new = value
        if old is None:
            cmp = {"key": b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}
        else:
            cmp = {"key": b64(key), "target": "VALUE", "result": "EQUAL", "value": b64(old)}
        resp = call("/v3/kv/txn", {"compare": [cmp],
                                    "success": [{"request_put": {"key": b64(key), "value": b64(new)}}]})
        if resp.get("succeeded"):
            return {"type": "ok"}
        return {"type": "fail", "error": "compare failed"}
    return {"type": "fail", "error": "unsupported operation %s" % f}


def main():
    for line in sys.stdin:
        req = json.loads(line)
        f = req["f"]
        if WORKLOAD != "register" and f not in ("hello", "ready", "leader"):
            resp = {"type": "fail", "error": "this client implements the register workload only"}
        else:
            try:
                resp = handle(f, req["key"], req.get("value"))
            except (http.client.HTTPException, socket.timeout, TimeoutError, ConnectionError, OSError, ValueError) as e:
                resp = {"type": "info" if f in ("write", "cas") else "fail", "error": str(e)}
        resp["id"] = req["id"]
        print(json.dumps(resp), flush=True)


if __name__ == "__main__":
    main()
