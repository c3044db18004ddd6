#!/usr/bin/env bash
# make-rootfs.sh OUT: builds OUT/rootfs, the root filesystem of a Python 3
# image for client programs (FROM scratch: ./Dockerfile), from Debian
# packages only: python3.11-minimal and libpython3.11-stdlib, the library
# packages they depend on (first alternative of each Depends, lib* and
# zlib1g only),
# and media-types. Each is fetched with `apt-get download` and unpacked
# with `dpkg-deb -x`; then python3 is run from the rootfs with its own
# loader, importing what the example clients import, so a missing library
# fails here and not in a run. Quiet on success; on failure it says which
# step failed and shows its output. Replaces OUT/rootfs.
#
# faultline runs a client program in a container of this image when the
# clients run inside the run's network (docs/adapters.md).
set -euo pipefail
[ $# -eq 1 ] && [ -n "$1" ] || { echo "usage: $0 OUT   (builds OUT/rootfs)" >&2; exit 2; }
mkdir -p "$1"
ROOT=$(cd "$1" && pwd)/rootfs
PY=python3.11
LOADER=/lib64/ld-linux-x86-64.so.2

work=$(mktemp -d "${TMPDIR:-/tmp}/python-rootfs.XXXXXX")
log=$work/step.log
step=starting
trap 'rc=$?; if [ $rc -ne 0 ]; then echo "make-rootfs: FAILED during: $step (exit $rc)" >&2; tail -n 40 "$log" >&2 2>/dev/null; fi; rm -rf "$work"; exit $rc' EXIT
step() { step=$1; shift; "$@" >"$log" 2>&1; }

# As root, apt hands downloads to _apt, which cannot write to our folder.
apt=(apt-get -q)
[ "$(id -u)" -ne 0 ] || apt+=(-o APT::Sandbox::User=root)
fetch() { (cd "$work" && "${apt[@]}" download "$@"); }

declare -A seen=()
queue=("$PY-minimal" "lib$PY-stdlib" media-types)
updated=no
while [ ${#queue[@]} -gt 0 ]; do
	batch=()
	for p in "${queue[@]}"; do
		[ -n "${seen[$p]:-}" ] || { seen[$p]=1; batch+=("$p"); }
	done
	queue=()
	[ ${#batch[@]} -gt 0 ] || break
	if ! step "apt-get download ${batch[*]}" fetch "${batch[@]}"; then
		[ $updated = no ] || exit 1
		updated=yes
		step "apt-get update" "${apt[@]}" update || true
		step "apt-get download ${batch[*]} (after apt-get update)" fetch "${batch[@]}"
	fi
	for p in "${batch[@]}"; do
		deb=$(ls "$work/${p}"_*.deb)
		while read -r d; do [ -z "$d" ] || queue+=("$d"); done < <(
			dpkg-deb -f "$deb" Depends Pre-Depends | sed 's/^[A-Za-z-]*: //' | tr ',' '\n' |
				sed -e 's/|.*//' -e 's/(.*)//' -e 's/:any//' -e 's/[[:space:]]//g' | grep -E '^(lib|zlib)' || true)
	done
done

rm -rf "$ROOT"
mkdir -p "$ROOT"
for deb in "$work"/*.deb; do
	step "dpkg-deb -x $(basename "$deb")" dpkg-deb -x "$deb" "$ROOT"
done
rm -rf "$ROOT/usr/share/doc" "$ROOT/usr/share/man" "$ROOT/usr/share/locale" "$ROOT/usr/share/lintian"
ln -sf "$PY" "$ROOT/usr/bin/python3"
mkdir -p "$ROOT/tmp" "$ROOT/etc"
chmod 1777 "$ROOT/tmp"
printf 'root:x:0:0:root:/:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$ROOT/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$ROOT/etc/group"
printf 'hosts: files dns\n' >"$ROOT/etc/nsswitch.conf"

# Every library python3 and its extension modules load must resolve inside
# the rootfs (the loader also searches the host's folders, so one found
# outside counts as missing); then the rootfs's own python3 runs.
libs="$ROOT/lib/x86_64-linux-gnu:$ROOT/usr/lib/x86_64-linux-gnu"
step=checking\ shared\ libraries
for f in "$ROOT/usr/bin/$PY" "$ROOT"/usr/lib/$PY/lib-dynload/*.so; do
	"$ROOT$LOADER" --inhibit-cache --library-path "$libs" --list "$f" >"$log" 2>&1 || { echo "$f" >>"$log"; exit 1; }
	if grep -v -e "=> $ROOT/" -e 'linux-vdso' -e 'statically linked' -e "ld-linux-x86-64.so.2 (" "$log" >"$work/outside"; then
		{ echo "$f loads libraries from outside the rootfs:"; cat "$work/outside"; } >"$log"
		exit 1
	fi
done
step "python3 from the rootfs importing the clients' modules" env -i PYTHONHOME="$ROOT/usr" \
	"$ROOT$LOADER" --inhibit-cache --library-path "$libs" "$ROOT/usr/bin/$PY" -c \
	'import base64, http.client, json, os, socket, sys, time, urllib.parse, ssl; print(sys.version.split()[0])'
echo "make-rootfs: $ROOT: $(ls "$work"/*.deb | wc -l) packages, $(du -sh "$ROOT" | cut -f1), Python $(cat "$log")"
