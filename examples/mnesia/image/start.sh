#!/bin/sh
# Starts one Mnesia node of the example (runs under busybox sh in the image).
# Environment: NODE_NAME (n1), NODE_ADDR (this node's IPv4), PEERS (the
# IPv4 addresses of all nodes, this one included, space- or
# comma-separated, in order), COOKIE, HTTP_PORT (8080), DATA_DIR (/data),
# and optionally NET_TICKTIME (seconds, Erlang's default 60: a silent peer
# is declared down after 0.75 to 1.25 times this) and MAJORITY (1: kv is
# created with Mnesia's {majority, true}; read by mnesia_kv itself).
set -eu

if [ -z "${NODE_ADDR:-}" ]; then
	echo "start.sh: NODE_ADDR (this node's IPv4 address) must be set" >&2
	exit 2
fi
if [ -z "${PEERS:-}" ]; then
	echo "start.sh: PEERS not set: running as a single node" >&2
	PEERS=$NODE_ADDR
fi
if [ -z "${COOKIE:-}" ]; then
	echo "start.sh: COOKIE not set: using the cookie 'mnesia_kv'" >&2
	COOKIE=mnesia_kv
fi
export NODE_NAME="${NODE_NAME:-$NODE_ADDR}" NODE_ADDR PEERS
export HTTP_PORT="${HTTP_PORT:-8080}" DATA_DIR="${DATA_DIR:-/data}"
NET_TICKTIME="${NET_TICKTIME:-60}"

# erl is Debian's wrapper script: it sets ROOTDIR=/usr/lib/erlang, BINDIR,
# EMU and PROGNAME itself and needs dirname and basename (busybox applets).
export HOME="${HOME:-/root}"
export PATH=/usr/bin:/bin
mkdir -p "$DATA_DIR"
cd "$DATA_DIR"

# The distribution listens on 9100-9105 (epmd on 4369, started by erl).
exec /usr/bin/erl -noshell -noinput \
	-name "kv@$NODE_ADDR" \
	-setcookie "$COOKIE" \
	-kernel inet_dist_listen_min 9100 inet_dist_listen_max 9105 \
	-kernel net_ticktime "$NET_TICKTIME" \
	-pa /app/ebin \
	-s mnesia_kv start
