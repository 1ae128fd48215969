#!/usr/bin/env bash
# build-kernel.sh - configure (tinyconfig + fragments) and build the kernel
# in $OBJ_DIR from the synced tree in $SRC_DIR. Fails loudly if a requested
# option did not stick. Prints the exact base version.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
REPO=$(cd "$(dirname "$0")/.." && pwd)
# vm.config and systemd.config make the VM kernel (make check-systemd boots
# systemd on the same kernel as make check). LUO_CONFIG replaces the LUO options (make bench-compare builds pristine
# upstream with its own); EXTRA_CONFIG adds fragments. SERIES_STEP=1 (make
# series-check, one build per patch) merges the fragments into the existing
# .config at every run, so options a patch introduces get their test values,
# and does not require every option: earlier patches lack some.
FRAGMENTS=("$REPO/workbench/vm.config" "$REPO/workbench/systemd.config"
	   "${LUO_CONFIG:-$REPO/tools/testing/selftests/liveupdate/orchestration/config}" ${EXTRA_CONFIG:-})

# KMAKE_FLAGS (CLIPPY=1, LLVM=-19) apply to every step, configuration
# included: which compiler builds decides what Kconfig allows.
kmake() {
	make -C "$SRC_DIR" O="$OBJ_DIR" RUSTC="$RUSTC" BINDGEN="$BINDGEN" \
	     RUSTFMT=/usr/bin/rustfmt CLIPPY_DRIVER=/usr/bin/clippy-driver \
	     RUSTDOC=/usr/bin/rustdoc HOSTRUSTC="$RUSTC" ${KMAKE_FLAGS:-} "$@"
}

log "base: Linux $(make -s -C "$SRC_DIR" kernelversion) from linux-source-7.3 $(base_version)${LUO_CONFIG:+, pristine}"
mkdir -p "$OBJ_DIR"
frag_stamp=$(cat "${FRAGMENTS[@]}" | sha256sum | cut -d' ' -f1)

# Every option of the fragments must be in the final .config.
verify_config() {
	local missing=0 line
	while IFS= read -r line; do
		case "$line" in CONFIG_*=*) ;; *) continue ;; esac
		if ! grep -qxF -- "$line" "$OBJ_DIR/.config"; then
			log "config option did not stick: $line"
			missing=1
		fi
	done < <(cat "${FRAGMENTS[@]}")
	[ $missing -eq 0 ] || { kmake rustavailable || true; die "kernel configuration incomplete"; }
}

# Configure only when the fragments changed: kbuild itself follows changes
# of Kconfig files (syncconfig), and a fresh .config would rebuild all.
if [ -n "${SERIES_STEP:-}" ]; then
	[ -f "$OBJ_DIR/.config" ] || kmake -s tinyconfig >/dev/null
	"$SRC_DIR/scripts/kconfig/merge_config.sh" -m -O "$OBJ_DIR" "$OBJ_DIR/.config" "${FRAGMENTS[@]}" >/dev/null
	kmake -s olddefconfig >/dev/null
	verify_config() { :; }
elif [ ! -f "$OBJ_DIR/.config" ] || [ "$(cat "$OBJ_DIR/.luo-config-stamp" 2>/dev/null)" != "$frag_stamp" ]; then
	log "configuring: tinyconfig + ${FRAGMENTS[*]##*/}"
	kmake -s tinyconfig >/dev/null
	"$SRC_DIR/scripts/kconfig/merge_config.sh" -m -O "$OBJ_DIR" "$OBJ_DIR/.config" "${FRAGMENTS[@]}" >/dev/null
	kmake -s olddefconfig >/dev/null
	verify_config
	echo "$frag_stamp" >"$OBJ_DIR/.luo-config-stamp"
fi
start=$(date +%s)
# KMAKE_TARGETS: what to build (default bzImage and the modules the test VM
# loads; make rustdoc: rustdoc).
kmake -j"$(nproc)" ${KMAKE_TARGETS:-bzImage modules}
verify_config
log "${KMAKE_TARGETS:-kernel} built in $(( $(date +%s) - start ))s in $OBJ_DIR"
