#!/usr/bin/env python3
"""A faultline client program for the Mnesia example, standard library only.

faultline starts one copy per logical client and sends it one JSON request
per line on standard input; this program answers one JSON response per line
on standard output (see docs/adapters.md), and nothing else goes there. It
talks to its node's HTTP front (image/src/mnesia_kv_http.erl) and implements
the register workload:

  read           GET  /kv/KEY -> {"value": 3 | null}
  write V        POST /kv/KEY {"op":"write","value":V}
  cas [OLD,NEW]  POST /kv/KEY {"op":"cas","expect":OLD,"value":NEW}
                 (OLD null: the key must be absent) -> {"ok": true | false}

and the protocol-2 requests hello and ready (GET /ready).

Outcomes: a read that errors is fail (it changes nothing). A write or cas
is fail when it certainly did not happen: the connection could not be made
(nothing was sent), the node refused the request (400), or its Mnesia
transaction aborted (503: an aborted transaction changed nothing). It is
info (unknown) when the request was sent and no answer came (timeout,
connection lost) or the answer was unexpected.

Environment: FAULTLINE_ENDPOINT (http://ADDR:8080; else FAULTLINE_ADDR is
used), FAULTLINE_WORKLOAD (register), FAULTLINE_OP_TIMEOUT (seconds).
http.client uses no proxy, so HTTP_PROXY and the like are ignored.
"""
import http.client
import json
import os
import sys
import time
import urllib.parse

WORKLOAD = os.environ.get("FAULTLINE_WORKLOAD", "register")
OP_TIMEOUT = float(os.environ.get("FAULTLINE_OP_TIMEOUT") or "1")
# A bit under the harness's timeout, so that an answer always comes first.
TIMEOUT = max(0.05, min(OP_TIMEOUT * 0.9, OP_TIMEOUT - 0.1))

_endpoint = os.environ.get("FAULTLINE_ENDPOINT") or "http://%s:8080" % os.environ.get("FAULTLINE_ADDR", "127.0.0.1")
_url = urllib.parse.urlsplit(_endpoint if "//" in _endpoint else "http://" + _endpoint)
HOST, PORT = _url.hostname or "127.0.0.1", _url.port or 8080

HELLO = {"protocol": 2, "supports": ["ready"], "workloads": ["register"]}


class NotSent(Exception):
    """The request never left: it certainly did not happen."""


class Lost(Exception):
    """The request was (or may have been) sent, and no answer came."""


def call(method, path, body=None):
    """One request on a fresh connection: (status, parsed JSON or None, raw body)."""
    deadline = time.monotonic() + TIMEOUT
    conn = http.client.HTTPConnection(HOST, PORT, timeout=TIMEOUT)
    try:
        try:
            conn.connect()
        except OSError as e:
            raise NotSent("connect: %s" % (e or type(e).__name__))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise NotSent("connect: timed out")
        conn.sock.settimeout(remaining)
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise Lost("%s: %s" % (type(e).__name__, e))
        status = resp.status
    finally:
        conn.close()
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    return status, doc, raw


def why(status, doc, raw):
    if isinstance(doc, dict):
        for k in ("error", "reason"):
            if doc.get(k):
                return "%d: %s" % (status, doc[k])
    return "%d: %s" % (status, raw[:200].decode("utf-8", "replace").strip())


def kv_path(key):
    return "/kv/" + urllib.parse.quote(str(key), safe="")


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def read(key):
    try:
        status, doc, raw = call("GET", kv_path(key))
    except (NotSent, Lost) as e:
        return {"type": "fail", "error": str(e)}
    if status == 200 and isinstance(doc, dict) and (doc.get("value") is None or is_int(doc.get("value"))):
        return {"type": "ok", "value": doc.get("value")}
    return {"type": "fail", "error": why(status, doc, raw)}


def update(key, body, swap):
    """write or cas: POST body; swap: a false "ok" means the compare failed."""
    try:
        status, doc, raw = call("POST", kv_path(key), body)
    except NotSent as e:
        return {"type": "fail", "error": str(e)}
    except Lost as e:
        return {"type": "info", "error": str(e)}
    if status == 200 and isinstance(doc, dict) and doc.get("ok") is True:
        return {"type": "ok"}
    if status == 200 and isinstance(doc, dict) and doc.get("ok") is False and swap:
        return {"type": "fail", "error": "compare failed"}
    if status in (400, 503):
        # 400: refused before any transaction; 503: the transaction aborted
        # (or httpd refused the connection as too many): nothing was applied.
        return {"type": "fail", "error": why(status, doc, raw)}
    return {"type": "info", "error": why(status, doc, raw)}


def ready():
    try:
        status, doc, raw = call("GET", "/ready")
    except (NotSent, Lost) as e:
        return {"type": "fail", "error": str(e)}
    if status == 200:
        return {"type": "ok"}
    return {"type": "fail", "error": why(status, doc, raw)}


def handle(req):
    f = req.get("f")
    key, value = req.get("key"), req.get("value")
    if f == "hello":
        return {"type": "ok", "value": HELLO}
    if f == "ready":
        return ready()
    if WORKLOAD != "register" and f in ("read", "write", "cas"):
        return {"type": "fail", "error": "this client implements the register workload only, not %s" % WORKLOAD}
    if f == "read":
        return read(key)
    if f == "write":
        if not is_int(value):
            return {"type": "fail", "error": "write needs an integer value"}
        return update(key, {"op": "write", "value": value}, swap=False)
    if f == "cas":
        if not (isinstance(value, list) and len(value) == 2 and (value[0] is None or is_int(value[0]))
                and is_int(value[1])):
            return {"type": "fail", "error": "cas needs [old, new] (old an integer or null, new an integer)"}
        return update(key, {"op": "cas", "expect": value[0], "value": value[1]}, swap=True)
    return {"type": "fail", "error": "unsupported operation %s" % f}


def respond(resp):
    sys.stdout.write(json.dumps(resp) + "\n")
    sys.stdout.flush()


def main():
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            if not isinstance(req, dict):
                raise ValueError("not a JSON object")
        except ValueError as e:
            print("client: bad request line %r: %s" % (line[:200], e), file=sys.stderr, flush=True)
            respond({"id": None, "type": "fail", "error": "bad request: %s" % e})
            continue
        try:
            resp = handle(req)
        except Exception as e:  # never crash: an unexpected error is unknown for an update
            print("client: %r: %s: %s" % (req, type(e).__name__, e), file=sys.stderr, flush=True)
            unsure = req.get("f") in ("write", "cas")
            resp = {"type": "info" if unsure else "fail", "error": "%s: %s" % (type(e).__name__, e)}
        resp["id"] = req.get("id")
        respond(resp)


if __name__ == "__main__":
    try:
        main()
    except (BrokenPipeError, KeyboardInterrupt):
        pass
