#!/usr/bin/env bash
# make-rootfs.sh OUT: builds OUT/rootfs, the root filesystem of the
# redis-sentinel example image (a FROM scratch image: ./Dockerfile), from
# Debian packages only. It downloads redis-server, redis-sentinel,
# redis-tools, busybox-static and the library packages they depend on
# (followed through the packages' Depends, library packages only) with
# `apt-get download`, unpacks each with `dpkg-deb -x`, then checks with the
# rootfs's own dynamic loader that every shared library the binaries load
# resolves inside the rootfs. No registry, no host package needs to be
# installed (only apt-get and dpkg-deb, which every Debian has).
#
# Idempotent: OUT/rootfs is replaced; the downloads go to a temporary
# folder that is removed at the end. Quiet on success; on failure it says
# which step failed and shows that step's output.
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
	echo "usage: $0 OUT   (builds OUT/rootfs)" >&2
	exit 2
fi
OUT=$1
# The redis user's ids (also in the Dockerfile's chown).
REDIS_UID=6379
REDIS_GID=6379
ARCH_TRIPLET=x86_64-linux-gnu
LOADER=/lib64/ld-linux-x86-64.so.2
ROOT_PKGS=(redis-server redis-sentinel redis-tools busybox-static)

exec 3>&2 # the caller's stderr, for the failure report whatever is redirected
work=$(mktemp -d "${TMPDIR:-/tmp}/make-rootfs.XXXXXX")
step="starting"
steplog="$work/step.log"
cleanup() {
	rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "make-rootfs: FAILED during: $step (exit $rc)" >&3
		if [ -s "$steplog" ]; then
			echo "--- its output (last 40 lines) ---" >&3
			tail -n 40 "$steplog" >&3
		fi
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT

# run DESCRIPTION CMD...: runs CMD with its output in the step log, shown
# only if it fails.
run() {
	step=$1
	shift
	# Tested in an `if`, so that errexit never fires inside the redirection.
	if "$@" >"$steplog" 2>&1; then
		return 0
	else
		return $?
	fi
}

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
ROOT="$OUT/rootfs"
debs="$work/debs"
mkdir -p "$debs"

# apt-get download as root hands the download to the _apt user, which
# cannot write into our private temp folder: download as ourselves.
apt_opts=(-q)
if [ "$(id -u)" -eq 0 ]; then
	apt_opts+=(-o APT::Sandbox::User=root)
fi

download() { (cd "$debs" && apt-get "${apt_opts[@]}" download "$@"); }

# fetch PKG...: downloads the packages, running `apt-get update` once if the
# package lists are missing or stale.
updated=no
fetch() {
	if run "apt-get download $*" download "$@"; then
		return 0
	fi
	if [ "$updated" = yes ]; then
		return 1
	fi
	updated=yes
	# Some configured sources may be unreachable: the Debian ones are all
	# that matter, so a partial update is acceptable if the retry works.
	run "apt-get update" apt-get -q update || true
	run "apt-get download $* (after apt-get update)" download "$@"
}

# lib_deps DEB: the library packages DEB depends on (first alternative of
# each Depends / Pre-Depends, names starting with lib; the others are
# maintainer-script helpers such as adduser or lsb-base, not needed here).
lib_deps() {
	dpkg-deb -f "$1" Depends Pre-Depends |
		sed -e 's/^[A-Za-z-]*: //' | tr ',' '\n' |
		sed -e 's/|.*//' -e 's/(.*)//' -e 's/:any//' -e 's/[[:space:]]//g' |
		grep '^lib' || true
}

# Download the closure.
declare -A seen=()
queue=("${ROOT_PKGS[@]}")
while [ ${#queue[@]} -gt 0 ]; do
	batch=()
	for p in "${queue[@]}"; do
		if [ -z "${seen[$p]:-}" ]; then
			seen[$p]=1
			batch+=("$p")
		fi
	done
	queue=()
	[ ${#batch[@]} -gt 0 ] || break
	fetch "${batch[@]}"
	for p in "${batch[@]}"; do
		deb=$(ls "$debs/${p}"_*.deb 2>/dev/null | head -n 1 || true)
		step="finding the downloaded package $p"
		[ -n "$deb" ] || { echo "no .deb for $p in $debs" >"$steplog"; exit 1; }
		while read -r d; do
			[ -n "$d" ] && queue+=("$d")
		done < <(lib_deps "$deb")
	done
done

# Unpack into a fresh rootfs.
step="removing the old $ROOT"
rm -rf "$ROOT"
mkdir -p "$ROOT"
for deb in "$debs"/*.deb; do
	run "dpkg-deb -x $(basename "$deb")" dpkg-deb -x "$deb" "$ROOT"
done

# Trim what a container never uses: docs (keeping copyright files), man
# pages, init scripts and units, iconv modules, lintian and initramfs bits.
step="trimming the rootfs"
find "$ROOT/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete 2>/dev/null || true
rm -rf "$ROOT/usr/share/man" "$ROOT/usr/share/info" "$ROOT/usr/share/lintian" \
	"$ROOT/usr/share/locale" "$ROOT/usr/share/bash-completion" "$ROOT/usr/share/initramfs-tools" \
	"$ROOT/etc/init.d" "$ROOT/etc/default" "$ROOT/etc/logrotate.d" \
	"$ROOT/lib/systemd" "$ROOT/usr/lib/systemd" "$ROOT/usr/lib/$ARCH_TRIPLET/gconv"

# busybox: /bin/sh and the usual applets (for start.sh and for debugging
# with docker exec), each a symlink to /bin/busybox unless a real file of
# that name exists.
step="installing busybox applets"
[ -x "$ROOT/bin/busybox" ] || { echo "no $ROOT/bin/busybox" >"$steplog"; exit 1; }
for a in $("$ROOT/bin/busybox" --list); do
	case $a in busybox | '[[') continue ;; esac
	if [ ! -e "$ROOT/bin/$a" ] && [ ! -e "$ROOT/usr/bin/$a" ] && [ ! -e "$ROOT/sbin/$a" ]; then
		ln -s busybox "$ROOT/bin/$a"
	fi
done
[ -L "$ROOT/bin/sh" ] || ln -sf busybox "$ROOT/bin/sh"

# Users, groups, the folders redis needs.
step="writing /etc and folders"
mkdir -p "$ROOT/etc" "$ROOT/tmp" "$ROOT/data" "$ROOT/root"
cat >"$ROOT/etc/passwd" <<EOF
root:x:0:0:root:/root:/bin/sh
redis:x:$REDIS_UID:$REDIS_GID:redis:/data:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$ROOT/etc/group" <<EOF
root:x:0:
redis:x:$REDIS_GID:
nogroup:x:65534:
EOF
cat >"$ROOT/etc/nsswitch.conf" <<EOF
passwd: files
group: files
hosts: files dns
EOF
chmod 1777 "$ROOT/tmp"
chmod 0755 "$ROOT/data"
chmod 0700 "$ROOT/root"
# Only root can give the folder away; the Dockerfile chowns it again
# anyway, since COPY makes every file root's.
if [ "$(id -u)" -eq 0 ]; then
	chown "$REDIS_UID:$REDIS_GID" "$ROOT/data"
fi

# Every binary's libraries must resolve inside the rootfs: ask the rootfs's
# own loader (it searches the host's default folders too, so a library
# found outside ROOT counts as missing).
step="checking shared libraries"
libpath="$ROOT/lib/$ARCH_TRIPLET:$ROOT/usr/lib/$ARCH_TRIPLET:$ROOT/lib:$ROOT/usr/lib"
[ -e "$ROOT$LOADER" ] || { echo "no loader $ROOT$LOADER" >"$steplog"; exit 1; }
: >"$steplog"
bad=0
for b in redis-check-rdb redis-check-aof redis-cli redis-benchmark; do
	f="$ROOT/usr/bin/$b"
	if ! list=$("$ROOT$LOADER" --inhibit-cache --library-path "$libpath" --list "$f" 2>&1); then
		echo "$b: $list" >>"$steplog"
		bad=1
		continue
	fi
	while read -r line; do
		case $line in
		*"=> not found"*) echo "$b: missing ${line%% *}" >>"$steplog"; bad=1 ;;
		*"=> "*)
			target=${line#*=> }
			target=${target%% (*}
			case $target in
			"$ROOT"/*) ;;
			*) echo "$b: ${line%% *} found only outside the rootfs ($target)" >>"$steplog"; bad=1 ;;
			esac
			;;
		esac
	done <<<"$list"
done
[ "$bad" -eq 0 ]
for l in redis-server redis-sentinel; do
	[ -L "$ROOT/usr/bin/$l" ] || { echo "no /usr/bin/$l in the rootfs" >"$steplog"; exit 1; }
done
run "running redis-server --version from the rootfs" \
	"$ROOT$LOADER" --inhibit-cache --library-path "$libpath" "$ROOT/usr/bin/redis-server" --version
version=$(cat "$steplog")

npkgs=$(ls "$debs"/*.deb | wc -l)
size=$(du -sh "$ROOT" | cut -f1)
echo "make-rootfs: $ROOT: $npkgs packages, $size"
echo "make-rootfs: ${version%% sha=*}"
