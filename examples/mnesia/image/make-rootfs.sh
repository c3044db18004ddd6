#!/usr/bin/env bash
# make-rootfs.sh OUT: builds OUT/rootfs, the root filesystem of the Mnesia
# example image (FROM scratch, see the Dockerfile beside this script), from
# Debian packages only: OTP 25 from bookworm (erlang-base, erlang-mnesia,
# erlang-inets), the C libraries its binaries load (found with the dynamic
# loader of the rootfs itself, see missing() below), and a static busybox as
# /bin/sh. The Erlang modules in src/ are compiled with the rootfs's own erlc
# (chroot: run as root). Nothing is installed on the host; downloads go to a
# temporary folder that is removed on exit. Quiet on success; on failure it
# says what failed and shows the log of the failing step.
#
# Run it as root on Debian 12 (bookworm) or any host whose apt serves
# bookworm packages. It replaces OUT/rootfs.
set -euo pipefail

die() { echo "make-rootfs: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 OUT"
[ "$(id -u)" -eq 0 ] || die "must run as root (it uses chroot to compile with the extracted erlc)"
for tool in apt-get apt-cache dpkg-deb chroot find mknod timeout; do
	command -v "$tool" >/dev/null || die "$tool not found (a Debian host is needed)"
done

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
ROOT=$OUT/rootfs

# The Erlang applications the node needs: kernel, stdlib, compiler, sasl and
# erts come with erlang-base. inets' httpd over plain HTTP needs neither ssl
# nor crypto, so erlang-inets' other package dependencies (ssl, ftp, tftp,
# runtime-tools) are left out on purpose: dpkg-deb -x does not follow them.
ERLANG_PKGS=(erlang-base erlang-mnesia erlang-inets)
BASE_PKGS=(libc6 busybox-static)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/make-rootfs.XXXXXX")
# On failure no half-built rootfs is left behind.
cleanup() {
	local rc=$?
	rm -rf "$WORK"
	if [ "$rc" -ne 0 ]; then rm -rf "$ROOT"; else rm -f "$ROOT/dev/null"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
LOG=$WORK/log

# run DESCRIPTION CMD...: runs CMD with its output kept in the log; on
# failure prints the description and the log.
run() {
	local what=$1
	shift
	if ! "$@" >"$LOG" 2>&1; then
		echo "make-rootfs: $what failed: $*" >&2
		sed 's/^/  /' "$LOG" >&2
		exit 1
	fi
}

APT_UPDATED=0
apt_update() {
	[ "$APT_UPDATED" -eq 0 ] || return 0
	APT_UPDATED=1
	# A source other than Debian's may be unreachable here: apt-get update
	# then complains, but Debian's lists are what counts, and the next step
	# says clearly if they are still missing.
	apt-get update -qq >"$WORK/update.log" 2>&1 || true
}

# The package lists must know erlang-base; fetch them only if they do not.
if ! apt-cache show erlang-base >/dev/null 2>&1; then
	apt_update
	apt-cache show erlang-base >/dev/null 2>&1 ||
		{ cat "$WORK/update.log" >&2 2>/dev/null; die "apt does not know erlang-base even after apt-get update"; }
fi

DEBS=$WORK/debs
mkdir -p "$DEBS"

# download PKG...: apt-get download into $DEBS, with one apt-get update and
# retry if it fails (missing or stale lists).
download() {
	local opts=(-qq -o APT::Sandbox::User=root)
	if ! (cd "$DEBS" && apt-get download "${opts[@]}" "$@") >"$LOG" 2>&1; then
		apt_update
		# shellcheck disable=SC2016 # $1 and $@ are the inner shell's
		run "apt-get download $*" bash -c 'cd "$1" && shift && apt-get download "$@"' _ "$DEBS" "${opts[@]}" "$@"
	fi
}

# deb_of PKG: the downloaded .deb of PKG.
deb_of() {
	local f
	for f in "$DEBS/$1"_*.deb; do
		[ -f "$f" ] && { echo "$f"; return 0; }
	done
	die "no .deb downloaded for $1"
}

# lib_deps PKG...: the library packages (Debian section "libs") in the
# Depends and Pre-Depends closure of PKG..., following library packages
# only: the candidates that may provide a shared object the binaries need
# (the tools in the closure, perl, procps, adduser..., are never needed).
lib_deps() {
	local -A seen=()
	local queue=("$@") p d
	while [ ${#queue[@]} -gt 0 ]; do
		p=${queue[0]}
		queue=("${queue[@]:1}")
		while read -r d; do
			[ -z "${seen[$d]:-}" ] || continue
			seen[$d]=0
			# (no grep -q: with pipefail, apt-cache's SIGPIPE would count as "no")
			if [[ $'\n'"$(apt-cache show --no-all-versions "$d" 2>/dev/null)"$'\n' == *$'\nSection: libs\n'* ]]; then
				seen[$d]=1
				queue+=("$d")
			fi
		done < <(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
			--no-replaces --no-enhances "$p" 2>/dev/null |
			sed -n 's/^ *|\{0,1\}\(Pre\)\{0,1\}Depends: \([^ <>]*\).*/\2/p' | sed 's/:any$//')
	done
	for d in "${!seen[@]}"; do
		[ "${seen[$d]}" -eq 0 ] || echo "$d"
	done | sort
}

mapfile -t LIB_PKGS < <(lib_deps "${ERLANG_PKGS[@]}" "${BASE_PKGS[@]}")
download "${ERLANG_PKGS[@]}" "${BASE_PKGS[@]}" "${LIB_PKGS[@]}"

rm -rf "$ROOT"
mkdir -p "$ROOT"
for p in "${ERLANG_PKGS[@]}" "${BASE_PKGS[@]}"; do
	run "extracting $p" dpkg-deb -x "$(deb_of "$p")" "$ROOT"
done
[ -x "$ROOT/bin/busybox" ] || die "busybox-static did not provide /bin/busybox"
[ -x "$ROOT/lib64/ld-linux-x86-64.so.2" ] || die "libc6 did not provide /lib64/ld-linux-x86-64.so.2"

# Which library package provides which shared object (by file name).
declare -A PROVIDER=()
for p in "${LIB_PKGS[@]}"; do
	while read -r so; do
		[ -n "${PROVIDER[$so]:-}" ] || PROVIDER[$so]=$p
	done < <(dpkg-deb -c "$(deb_of "$p")" | awk '{print $6}' | sed -n 's|.*/\(lib[^/]*\.so[^/]*\)$|\1|p')
done

# missing: the shared objects that some ELF file of the rootfs needs and
# that the rootfs's own loader cannot find (LD_TRACE_LOADED_OBJECTS = ldd).
missing() {
	local f
	while IFS= read -r -d '' f; do
		[ "$f" != "$ROOT/bin/busybox" ] || continue # static
		[ "$(head -c4 "$f")" = $'\x7fELF' ] || continue
		{ chroot "$ROOT" /bin/busybox env -i LD_TRACE_LOADED_OBJECTS=1 \
			/lib64/ld-linux-x86-64.so.2 "${f#"$ROOT"}" || true; } 2>/dev/null |
			sed -n 's/^[[:space:]]*\([^ ]*\) => not found.*/\1/p' 
	done < <(find "$ROOT" -path "$ROOT/usr/lib/x86_64-linux-gnu/gconv" -prune -o \
		-type f \( -perm -u+x -o -name '*.so*' \) -print0)
}

# Extract the providers of missing shared objects until nothing is missing.
declare -A EXTRACTED=()
for _ in 1 2 3 4 5 6 7 8 9 10; do
	mapfile -t need < <(missing | sort -u)
	[ ${#need[@]} -gt 0 ] || break
	progress=0
	for so in "${need[@]}"; do
		p=${PROVIDER[$so]:-}
		[ -n "$p" ] || die "no Debian library package among the dependencies provides $so (candidates: ${LIB_PKGS[*]})"
		if [ -z "${EXTRACTED[$p]:-}" ]; then
			run "extracting $p" dpkg-deb -x "$(deb_of "$p")" "$ROOT"
			EXTRACTED[$p]=1
			progress=1
		fi
	done
	[ "$progress" -eq 1 ] || die "still missing after extracting their packages: ${need[*]}"
done
mapfile -t need < <(missing | sort -u)
[ ${#need[@]} -eq 0 ] || die "shared objects still missing: ${need[*]}"
printf '%s\n' "${ERLANG_PKGS[@]}" "${BASE_PKGS[@]}" "${!EXTRACTED[@]}" | sort >"$WORK/packages"

# Busybox: /bin/sh and the applets the Debian erl wrapper script uses
# (dirname, basename), and every other applet as a symlink in /bin.
ln -sf busybox "$ROOT/bin/sh"
run "busybox --install" chroot "$ROOT" /bin/busybox --install -s /bin

# The files a FROM scratch image lacks.
mkdir -p "$ROOT/etc" "$ROOT/root" "$ROOT/tmp" "$ROOT/data" "$ROOT/app/ebin" "$ROOT/app/src"
chmod 1777 "$ROOT/tmp"
chmod 0755 "$ROOT/data"
cat >"$ROOT/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$ROOT/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
cp "$WORK/packages" "$ROOT/app/packages.txt"

# The node program, compiled by the rootfs's own erlc (no Erlang on the
# host). The OTP release is checked: the code is written for OTP 25.
otp=$(cat "$ROOT"/usr/lib/erlang/releases/*/OTP_VERSION 2>/dev/null | head -n1)
case $otp in 25.*) ;; *) die "expected OTP 25 from bookworm, found '${otp:-nothing}'" ;; esac
cp "$HERE"/src/*.erl "$ROOT/app/src/"
install -m 0755 "$HERE/start.sh" "$ROOT/app/start.sh"
# erlexec loops forever when it cannot open /dev/null: give the chroot one
# for the compile (Docker provides /dev in the container).
mkdir -p "$ROOT/dev"
rm -f "$ROOT/dev/null"
mknod -m 0666 "$ROOT/dev/null" c 1 3 || die "mknod $ROOT/dev/null failed"
run "compiling src/*.erl" timeout 300 chroot "$ROOT" /bin/sh -c \
	'cd /app && env -i HOME=/tmp PATH=/usr/bin:/bin /usr/bin/erlc -Werror -o ebin src/*.erl'
for src in "$ROOT"/app/src/*.erl; do
	mod=$(basename "$src" .erl)
	[ -f "$ROOT/app/ebin/$mod.beam" ] || die "erlc made no $mod.beam"
done
rm -rf "${ROOT:?}/dev"
rm -rf "$ROOT/tmp"/* "$ROOT/tmp"/.[!.]* 2>/dev/null || true

# Trim what a node never uses: docs, man pages, locales, iconv modules,
# systemd units, examples, and (now that the code is compiled: it needs
# inets' httpd.hrl) the Erlang headers.
rm -rf "$ROOT/usr/share/doc" "$ROOT/usr/share/man" "$ROOT/usr/share/info" \
	"$ROOT/usr/share/locale" "$ROOT/usr/share/lintian" "$ROOT/usr/share/initramfs-tools" \
	"$ROOT/usr/lib/x86_64-linux-gnu/gconv" "$ROOT/lib/systemd" "$ROOT/usr/lib/systemd" \
	"$ROOT"/usr/lib/erlang/lib/*/include "$ROOT"/usr/lib/erlang/lib/*/examples \
	"$ROOT"/usr/lib/erlang/lib/*/src "$ROOT/usr/include"
rmdir "$ROOT/usr/share" 2>/dev/null || true

