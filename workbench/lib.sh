# lib.sh - shared settings for the workbench scripts (sourced, not run).
#
# LUO_CACHE holds everything that is not part of the repository: the
# pristine base tree, the build tree, objects, tools. Results never depend
# on it: deleting it only costs time.
LUO_CACHE=${LUO_CACHE:-/var/cache/luo-rs}
BASE_DIR=$LUO_CACHE/base/linux-7.3
SRC_DIR=${SRC_DIR:-$LUO_CACHE/build/src}
OBJ_DIR=${OBJ_DIR:-$LUO_CACHE/build/obj}
BINDGEN_VERSION=0.73.2
BINDGEN=$LUO_CACHE/tools/bin/bindgen
LIBCLANG_PATH=/usr/lib/llvm-19/lib
RUSTC=/usr/bin/rustc
export LIBCLANG_PATH

log() { printf '[luo] %s\n' "$*" >&2; }
die() { printf '[luo] error: %s\n' "$*" >&2; exit 1; }
base_version() { cat "$BASE_DIR/.luo-base-version" 2>/dev/null || echo unknown; }
GUEST_DIR=${GUEST_DIR:-$LUO_CACHE/build/guest}

# The Debian archive URI as configured on this machine (deb822 or one-line
# format), skipping the security archive.
debian_archive_uri() {
	local f uri
	for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list \
		 /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		uri=$(grep -hoE '(URIs:[[:space:]]*|^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)[a-z]+://[^[:space:]]*/debian/?([[:space:]]|$)' "$f" 2>/dev/null |
		      grep -oE '[a-z]+://[^[:space:]]*' | grep -v -- '-security' | head -n1) || true
		if [ -n "$uri" ]; then
			echo "${uri%/}"
			return 0
		fi
	done
	die "no Debian archive URI found in the apt sources"
}

# make check-systemd: the root file system image (workbench/systemd/).
SYSTEMD_CACHE=${SYSTEMD_CACHE:-$LUO_CACHE/systemd}
