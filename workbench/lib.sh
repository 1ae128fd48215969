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
