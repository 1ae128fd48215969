#!/usr/bin/env bash
# build-upstream.sh - for make bench-compare: the pristine Linux 7.3 kernel
# with its own C LUO (workbench/bench/upstream.config), built out of tree
# from the read-only base in $UPSTREAM_OBJ, its uapi headers, and the
# benchmark client that speaks upstream's sessions API.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
REPO=$(cd "$(dirname "$0")/.." && pwd)
UPSTREAM_OBJ=${UPSTREAM_OBJ:-$LUO_CACHE/build/obj-upstream}

# Both LUOs must run in the same kernel: every option of our test
# configuration but ours, Rust, KUnit and the samples is upstream's too.
missing=$(grep '^CONFIG_' "$REPO/tools/testing/selftests/liveupdate/orchestration/config" |
	grep -vE '^CONFIG_(LIVEUPDATE_SYSFS_API|LIVEUPDATE_SELFTESTS|RUST|KUNIT|SAMPLE)' |
	grep -vxF -f "$REPO/workbench/bench/upstream.config" || true)
[ -z "$missing" ] || die "workbench/bench/upstream.config lacks options of the test kernel:" \
	$missing

SRC_DIR=$BASE_DIR OBJ_DIR=$UPSTREAM_OBJ LUO_CONFIG=$REPO/workbench/bench/upstream.config \
	bash "$REPO/workbench/build-kernel.sh"
make -s -C "$BASE_DIR" O="$UPSTREAM_OBJ" headers
mkdir -p "$GUEST_DIR/bench"
gcc -static -O2 -Wall -Werror -DBENCH_UPSTREAM -isystem "$UPSTREAM_OBJ/usr/include" \
	-o "$GUEST_DIR/bench/bench_upstream" "$REPO/workbench/bench/bench_sessions.c"
log "upstream kernel and client: $UPSTREAM_OBJ, $GUEST_DIR/bench/bench_upstream"
