#!/usr/bin/env python3
"""A faultline client program for Redis + Sentinel, standard library only.

faultline starts one copy per logical client and sends it one JSON request
per line on standard input; this program answers one JSON line per request
on standard output (docs/adapters.md). It speaks RESP over plain sockets.

How it finds the master: it asks the sentinel of ITS OWN node
(FAULTLINE_ENDPOINT, ADDR:26379) `SENTINEL get-master-addr-by-name
mymaster`, then talks to that address on port 6379. It never asks another
node's sentinel: clients are pinned to their node, which is how a split
brain shows (an isolated old master keeps acknowledging the writes of the
clients pinned to its node, and a failover on the other side loses them).
The master connection is cached; the sentinel is asked again after any
error and at least every REFRESH seconds, and a freshly connected master
must answer ROLE with "master" (as Sentinel-aware client libraries check).

Register workload (values are stored as JSON text, integers in practice):
  read   ok with the value, or null when the key is absent; an error: fail
  write  ok; an error before sending: fail; after (timeout, lost
         connection): info; a refusal that certainly applied nothing
         (READONLY from a replica, LOADING, ...): fail
  cas    [old, new], old null meaning "absent": atomic through one EVAL of
         a Lua script; ok when it swapped, fail "compare failed" when not
Protocol 2 extras: hello, ready (this node's sentinel names a master that
answers PING and reports role:master; with REDIS_READY_FAILOVER=1 in the
environment, also that this sentinel knows quorum-1 other sentinels and a
replica, i.e. that a failover could happen: about 10 s more), leader (the
master's address as this node's sentinel names it).

Nothing but responses goes to stdout; diagnostics go to stderr (the run's
clients/client-N.log).
"""
import json
import os
import socket
import sys
import time

MASTER_NAME = os.environ.get("REDIS_MASTER_NAME", "mymaster")
MASTER_PORT = 6379
REFRESH = 1.0  # seconds between two questions to the sentinel
# ready also waits until this node's sentinel could fail over (see ready_failover)
READY_FAILOVER = os.environ.get("REDIS_READY_FAILOVER") == "1"

CAS_SCRIPT = """
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if cur then return 0 end
elseif cur ~= ARGV[2] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
"""

# Error prefixes with which Redis refuses a command before executing any of
# it: such a write certainly did not happen.
REFUSALS = ("READONLY", "LOADING", "MASTERDOWN", "BUSY", "NOSCRIPT", "MISCONF",
            "OOM", "NOREPLICAS", "NOAUTH", "NOPERM", "WRONGTYPE", "EXECABORT",
            "CROSSSLOT", "CLUSTERDOWN", "MOVED", "ASK", "TRYAGAIN", "UNBLOCKED")


def debug(msg):
    print("client %s: %s" % (os.environ.get("FAULTLINE_CLIENT", "?"), msg),
          file=sys.stderr, flush=True)


class RedisError(Exception):
    """An error reply (-ERR ..., -READONLY ...) from a server."""

    def __init__(self, msg):
        super().__init__(msg)
        self.code = msg.split(" ", 1)[0] if msg else ""


class NotSent(Exception):
    """The operation failed before anything was sent to the master."""


class Conn:
    """One RESP2 connection; every call takes an absolute deadline."""

    def __init__(self, host, port, deadline):
        self.addr = (host, port)
        self.sock = socket.create_connection(self.addr, timeout=remaining(deadline))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def idle_ok(self):
        """False when the server has closed this idle connection (Sentinel
        kills a demoted master's clients): then nothing is sent on it."""
        if self.buf:
            return False  # a reply nobody asked for: out of step
        try:
            self.sock.setblocking(False)
            try:
                self.sock.recv(1, socket.MSG_PEEK)
            finally:
                self.sock.setblocking(True)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False
        return False  # b"" (closed) or unexpected bytes

    def send(self, args, deadline):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if not isinstance(a, bytes):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.settimeout(remaining(deadline))
        self.sock.sendall(b"".join(out))

    def _fill(self, deadline):
        self.sock.settimeout(remaining(deadline))
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by %s:%d" % self.addr)
        self.buf += chunk

    def _line(self, deadline):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._fill(deadline)

    def read_reply(self, deadline):
        """A reply; error replies are returned as RedisError, not raised,
        so that one inside an array does not desynchronize the stream."""
        line = self._line(deadline)
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RedisError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill(deadline)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self.read_reply(deadline) for _ in range(n)]
        raise ConnectionError("bad RESP reply from %s:%d: %r" % (self.addr + (line[:40],)))

    def call(self, args, deadline):
        self.send(args, deadline)
        return self.read_reply(deadline)


def remaining(deadline):
    left = deadline - time.monotonic()
    if left <= 0:
        raise socket.timeout("operation deadline passed")
    return left


def parse_endpoint(ep):
    ep = ep.strip()
    for scheme in ("redis://", "tcp://"):
        if ep.startswith(scheme):
            ep = ep[len(scheme):]
    ep = ep.rstrip("/")
    host, sep, port = ep.rpartition(":")
    if not sep:
        return ep, 26379
    return host.strip("[]"), int(port)


class Client:
    def __init__(self):
        self.sentinel_addr = parse_endpoint(os.environ["FAULTLINE_ENDPOINT"])
        self.sentinel = None
        self.master = None  # Conn to the master, verified by ROLE
        self.asked = 0.0    # when the sentinel was last asked

    def drop_master(self):
        if self.master is not None:
            self.master.close()
        self.master = None
        self.asked = 0.0  # ask the sentinel again next time

    def drop_sentinel(self):
        if self.sentinel is not None:
            self.sentinel.close()
        self.sentinel = None

    def ask_sentinel(self, deadline):
        """The master's address as this node's sentinel names it, or an
        exception saying why not."""
        try:
            if self.sentinel is None:
                self.sentinel = Conn(self.sentinel_addr[0], self.sentinel_addr[1], deadline)
            r = self.sentinel.call(["SENTINEL", "get-master-addr-by-name", MASTER_NAME], deadline)
        except (OSError, ValueError) as e:
            self.drop_sentinel()
            raise NotSent("sentinel %s:%d: %s" % (self.sentinel_addr + (e,)))
        if isinstance(r, RedisError):
            raise NotSent("sentinel %s:%d: %s" % (self.sentinel_addr + (r,)))
        if not isinstance(r, list) or len(r) != 2 or r[0] is None:
            raise NotSent("sentinel %s:%d knows no master %s" % (self.sentinel_addr + (MASTER_NAME,)))
        return r[0].decode(), int(r[1])

    def master_conn(self, deadline):
        """The cached master connection, re-checked with the sentinel every
        REFRESH seconds; raises NotSent."""
        if self.master is not None and not self.master.idle_ok():
            debug("connection to %s:%d closed while idle" % self.master.addr)
            self.drop_master()
        if self.master is not None and time.monotonic() - self.asked < REFRESH:
            return self.master
        host, port = self.ask_sentinel(deadline)
        self.asked = time.monotonic()
        if self.master is not None:
            if self.master.addr == (host, port):
                return self.master
            debug("sentinel now names %s:%d (was %s:%d)" % ((host, port) + self.master.addr))
            self.master.close()
            self.master = None
        c = None
        try:
            c = Conn(host, port, deadline)
            role = c.call(["ROLE"], deadline)
        except (OSError, ValueError) as e:
            if c is not None:
                c.close()
            self.asked = 0.0
            raise NotSent("master %s:%d: %s" % (host, port, e))
        if not (isinstance(role, list) and role and role[0] == b"master"):
            c.close()
            self.asked = 0.0
            if isinstance(role, list) and role and isinstance(role[0], bytes):
                role = role[0].decode()
            raise NotSent("%s:%d, named master by the sentinel, has role %s" % (host, port, role))
        self.master = c
        return c

    def command(self, args, deadline):
        """Sends one command to the master and returns its reply (possibly a
        RedisError). Raises NotSent when nothing was sent, or OSError /
        ValueError after sending (outcome unknown)."""
        c = self.master_conn(deadline)
        try:
            r = c.call(args, deadline)
        except (OSError, ValueError):
            self.drop_master()
            raise
        if isinstance(r, RedisError):
            # A refusal (a replica's READONLY, ...): ask who is master next time.
            self.asked = 0.0
        return r

    # ---- operations ---------------------------------------------------------

    def op(self, f, key, value, deadline):
        if f == "read":
            r = self.command(["GET", key], deadline)
            if isinstance(r, RedisError):
                return {"type": "fail", "error": str(r)}
            if r is None:
                return {"type": "ok", "value": None}
            return {"type": "ok", "value": json.loads(r.decode())}
        if f == "write":
            r = self.command(["SET", key, json.dumps(value)], deadline)
            if isinstance(r, RedisError):
                return refused(r)
            return {"type": "ok"}
        if f == "cas":
            if not isinstance(value, list) or len(value) != 2:
                return {"type": "fail", "error": "cas wants [old, new], got %r" % (value,)}
            old, new = value
            args = ["EVAL", CAS_SCRIPT, "1", key,
                    "0" if old is None else "1", "" if old is None else json.dumps(old), json.dumps(new)]
            r = self.command(args, deadline)
            if isinstance(r, RedisError):
                return refused(r)
            if r == 1:
                return {"type": "ok"}
            if r == 0:
                return {"type": "fail", "error": "compare failed"}
            return {"type": "info", "error": "unexpected reply to cas: %r" % (r,)}
        raise AssertionError(f)

    def ready(self, deadline):
        self.drop_master()
        host, port = self.ask_sentinel(deadline)
        try:
            c = Conn(host, port, deadline)
        except OSError as e:
            return {"type": "fail", "error": "master %s:%d unreachable: %s" % (host, port, e)}
        try:
            pong = c.call(["PING"], deadline)
            if pong != "PONG":
                return {"type": "fail", "error": "master %s:%d answers PING with %s" % (host, port, pong)}
            info = c.call(["INFO", "replication"], deadline)
            if isinstance(info, RedisError) or not isinstance(info, bytes):
                return {"type": "fail", "error": "master %s:%d: INFO replication: %s" % (host, port, info)}
            fields = dict(l.split(":", 1) for l in info.decode().splitlines() if ":" in l)
            if fields.get("role") != "master":
                return {"type": "fail", "error": "%s:%d, named master by the sentinel, reports role:%s"
                        % (host, port, fields.get("role"))}
        except (OSError, ValueError) as e:
            return {"type": "fail", "error": "master %s:%d: %s" % (host, port, e)}
        finally:
            c.close()
        if READY_FAILOVER:
            return self.ready_failover(deadline)
        return {"type": "ok"}

    def ready_failover(self, deadline):
        """Opt-in (REDIS_READY_FAILOVER=1): also wait until this node's
        sentinel could take part in a failover: it knows quorum-1 other
        sentinels and at least one replica (it learns replicas from the
        master's INFO, every 10 s, so this adds up to ~10 s)."""
        try:
            r = self.sentinel.call(["SENTINEL", "MASTER", MASTER_NAME], deadline)
        except (OSError, ValueError, AttributeError) as e:
            self.drop_sentinel()
            return {"type": "fail", "error": "sentinel %s:%d: %s" % (self.sentinel_addr + (e,))}
        if isinstance(r, RedisError) or not isinstance(r, list):
            return {"type": "fail", "error": "sentinel %s:%d: SENTINEL MASTER: %s" % (self.sentinel_addr + (r,))}
        d = {r[i].decode(): r[i + 1].decode() for i in range(0, len(r) - 1, 2)
             if isinstance(r[i], bytes) and isinstance(r[i + 1], bytes)}
        try:
            quorum, others, replicas = int(d["quorum"]), int(d["num-other-sentinels"]), int(d["num-slaves"])
        except (KeyError, ValueError):
            return {"type": "fail", "error": "sentinel %s:%d: SENTINEL MASTER: unexpected answer" % self.sentinel_addr}
        if others + 1 < quorum or replicas < 1:
            return {"type": "fail", "error": "sentinel %s:%d knows %d other sentinels (quorum %d) and %d replicas"
                    % (self.sentinel_addr + (others, quorum, replicas))}
        return {"type": "ok"}

    def leader(self, deadline):
        host, _ = self.ask_sentinel(deadline)
        return {"type": "ok", "value": host}


def refused(err):
    if err.code in REFUSALS or str(err).startswith("ERR unknown command") \
            or str(err).startswith("ERR wrong number of arguments"):
        return {"type": "fail", "error": str(err)}
    return {"type": "info", "error": str(err)}


def handle(client, req, timeout):
    f = req.get("f")
    key = req.get("key")
    value = req.get("value")
    deadline = time.monotonic() + timeout
    if f == "hello":
        return {"type": "ok", "value": {"protocol": 2, "supports": ["ready", "leader"],
                                         "workloads": ["register"]}}
    try:
        if f == "ready":
            return client.ready(deadline)
        if f == "leader":
            return client.leader(deadline)
    except NotSent as e:
        return {"type": "fail", "error": str(e)}
    if f not in ("read", "write", "cas"):
        return {"type": "fail", "error": "unsupported operation %s" % f}
    if WORKLOAD != "register":
        return {"type": "fail", "error": "this client implements the register workload only"}
    if not isinstance(key, str) or not key:
        return {"type": "fail", "error": "bad key %r" % (key,)}
    try:
        return client.op(f, key, value, deadline)
    except NotSent as e:
        return {"type": "fail", "error": str(e)}
    except (OSError, ValueError) as e:
        # Sent (or being sent) to the master: a read changed nothing, a
        # write or cas may have been applied.
        msg = "%s: %s" % (type(e).__name__, e) if str(e) else type(e).__name__
        return {"type": "fail" if f == "read" else "info", "error": msg}


WORKLOAD = os.environ.get("FAULTLINE_WORKLOAD", "register")


def main():
    try:
        op_timeout = float(os.environ.get("FAULTLINE_OP_TIMEOUT", "1"))
    except ValueError:
        op_timeout = 1.0
    # A bit under faultline's own timeout, which would kill this process.
    timeout = max(0.05, min(op_timeout * 0.85, op_timeout - 0.1))
    client = Client()
    for line in sys.stdin:
        if not line.strip():
            continue
        rid, req = None, None
        try:
            req = json.loads(line)
            if not isinstance(req, dict):
                raise ValueError("a request is a JSON object")
            rid = req.get("id")
            resp = handle(client, req, timeout)
        except Exception as e:  # never crash on one request
            debug("request %r: %s: %s" % (line.strip()[:200], type(e).__name__, e))
            f = req.get("f") if isinstance(req, dict) else None
            resp = {"type": "info" if f in ("write", "cas") else "fail",
                    "error": "%s: %s" % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(dict(id=rid, **resp)) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
