#!/bin/sh
# start.sh: one node of the redis-sentinel example: redis-server on 6379 and
# redis-sentinel on 26379, side by side in one container (POSIX sh; runs
# under busybox sh).
#
# Environment:
#   NODE_ADDR       this node's IPv4 address (announced to the others)
#   INITIAL_MASTER  the IPv4 address of the first node, the initial master
#   QUORUM          Sentinel's quorum (default 2)
#   DATA_DIR        where the data and both config files live (default /data)
#
# Both processes log to this container's stdout (logfile ""); each redis
# log line carries a role letter: X for Sentinel, M / S for the server as
# master / replica, C for a child (AOF rewrite, RDB save). This script's own
# lines go to stderr, prefixed with "start.sh:".
#
# Restarts (docker start after a kill): both config files live in DATA_DIR
# and are kept when they exist. Sentinel rewrites sentinel.conf with what it
# learned (who the master is, its epoch, the other sentinels and replicas),
# and Sentinel's reconfiguration of a server (REPLICAOF + CONFIG REWRITE)
# rewrites redis.conf, so a restarted node comes back with its last view
# instead of being forced back to replicating INITIAL_MASTER.
#
# The configuration is deliberately Redis's default where it matters: no
# min-replicas-to-write, asynchronous replication, so an isolated master
# keeps acknowledging writes that a failover on the other side will lose.
set -u
PATH=/usr/bin:/bin
export PATH

log() { echo "start.sh: $*" >&2; }
die() {
	log "$*"
	exit 1
}

is_ipv4() {
	case $1 in
	*[!0-9.]* | '' | .* | *. | *..*) return 1 ;;
	esac
	old_ifs=$IFS
	IFS=.
	# shellcheck disable=SC2086
	set -- $1
	IFS=$old_ifs
	[ $# -eq 4 ] || return 1
	for o in "$@"; do
		[ "$o" -le 255 ] 2>/dev/null || return 1
	done
	return 0
}

NODE_ADDR=${NODE_ADDR:-}
INITIAL_MASTER=${INITIAL_MASTER:-}
QUORUM=${QUORUM:-2}
DATA_DIR=${DATA_DIR:-/data}
is_ipv4 "$NODE_ADDR" || die "NODE_ADDR must be this node's IPv4 address (got '$NODE_ADDR')"
is_ipv4 "$INITIAL_MASTER" || die "INITIAL_MASTER must be the first node's IPv4 address (got '$INITIAL_MASTER')"
case $QUORUM in
'' | *[!0-9]* | 0) die "QUORUM must be a positive integer (got '$QUORUM')" ;;
esac

mkdir -p "$DATA_DIR" 2>/dev/null
[ -d "$DATA_DIR" ] && [ -w "$DATA_DIR" ] || die "$DATA_DIR is not a folder writable by uid $(id -u)"
conf=$DATA_DIR/redis.conf
sconf=$DATA_DIR/sentinel.conf

# write_file FILE: standard input into FILE, atomically (a node killed while
# writing must not come back with half a config).
write_file() {
	cat >"$1.tmp" && mv "$1.tmp" "$1"
}

if [ -s "$conf" ]; then
	log "keeping $conf from a previous start"
else
	if [ "$NODE_ADDR" = "$INITIAL_MASTER" ]; then
		replicaof="# the initial master"
	else
		replicaof="replicaof $INITIAL_MASTER 6379"
	fi
	write_file "$conf" <<EOF || die "cannot write $conf"
# Written by start.sh on the node's first start; CONFIG REWRITE (Sentinel)
# may change it later.
port 6379
bind 0.0.0.0
protected-mode no
daemonize no
logfile ""
dir $DATA_DIR
appendonly yes
appendfsync everysec
replica-announce-ip $NODE_ADDR
$replicaof
EOF
	log "wrote $conf ($replicaof)"
fi

if [ -s "$sconf" ]; then
	log "keeping $sconf from a previous start (Sentinel's own view)"
else
	write_file "$sconf" <<EOF || die "cannot write $sconf"
# Written by start.sh on the node's first start; Sentinel rewrites it.
port 26379
bind 0.0.0.0
protected-mode no
daemonize no
logfile ""
dir $DATA_DIR
sentinel resolve-hostnames no
sentinel announce-hostnames no
sentinel announce-ip $NODE_ADDR
sentinel monitor mymaster $INITIAL_MASTER 6379 $QUORUM
sentinel down-after-milliseconds mymaster 1000
sentinel failover-timeout mymaster 3000
sentinel parallel-syncs mymaster 1
EOF
	log "wrote $sconf (monitor mymaster $INITIAL_MASTER 6379 quorum $QUORUM)"
fi

cd "$DATA_DIR" || die "cannot enter $DATA_DIR"
redis-server "$conf" &
server=$!
redis-sentinel "$sconf" &
sentinel=$!
log "redis-server pid $server, redis-sentinel pid $sentinel"

# This shell stays PID 1: it passes docker stop's SIGTERM (and INT, HUP) on
# to both, and lives as long as either process does. (SIGKILL of PID 1 ends
# the container at once, as any kill -9 of a node should.)
stop() {
	log "got $1: stopping both"
	kill -TERM "$server" "$sentinel" 2>/dev/null
}
trap 'stop TERM' TERM
trap 'stop INT' INT
trap 'stop HUP' HUP

while :; do
	# wait returns when both have ended, or early (status > 128) when a
	# trapped signal arrives: then loop and wait again.
	wait
	status=$?
	if ! kill -0 "$server" 2>/dev/null && ! kill -0 "$sentinel" 2>/dev/null; then
		break
	fi
done
log "redis-server and redis-sentinel have both exited"
exit "$status"
