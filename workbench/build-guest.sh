#!/usr/bin/env bash
# build-guest.sh - build what runs inside the VM: the static init
# (guest/init.c), the example agents (examples/), luoctl and the demo
# (tools/liveupdate/, demo/), our liveupdate kselftests
# (tools/testing/selftests/liveupdate/orchestration/) and upstream's
# (tools/testing/selftests/liveupdate/), statically linked against the
# uapi headers of the tree being tested.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
REPO=$(cd "$(dirname "$0")/.." && pwd)

make -s -C "$SRC_DIR" O="$OBJ_DIR" headers
# Whether the program $1 must be built again: it is not newer than all of
# its sources $2...
stale() {
	local bin=$1 f

	shift
	for f; do
		[ "$bin" -nt "$f" ] || return 0
	done
	return 1
}
UAPI_H=$OBJ_DIR/usr/include/linux/liveupdate.h
mkdir -p "$GUEST_DIR/kselftest"
for prog in init kmemleak_scan; do
	if [ ! "$GUEST_DIR/$prog" -nt "$REPO/workbench/guest/$prog.c" ]; then
		gcc -static -O2 -Wall -Werror -o "$GUEST_DIR/$prog" "$REPO/workbench/guest/$prog.c"
	fi
done
for ex in "$REPO"/workbench/examples/*.c; do
	bin=$GUEST_DIR/examples/$(basename "$ex" .c)
	mkdir -p "$GUEST_DIR/examples"
	if stale "$bin" "$ex" "$UAPI_H" "$REPO"/tools/liveupdate/*.h; then
		gcc -static -O2 -Wall -Werror -isystem "$OBJ_DIR/usr/include" \
			-I"$REPO/tools/liveupdate" -o "$bin" "$ex"
	fi
done
# luoctl (tools/liveupdate) and the demo around it (demo/)
make -s -C "$REPO/tools/liveupdate" OUTPUT="$GUEST_DIR/" \
	KHDR_INCLUDES="-isystem $OBJ_DIR/usr/include" CFLAGS="-O2 -Werror"
mkdir -p "$GUEST_DIR/demo"
for prog in demo workload; do
	gcc -static -O2 -Wall -Werror -isystem "$OBJ_DIR/usr/include" \
		-o "$GUEST_DIR/demo/$prog" "$REPO/workbench/demo/$prog.c"
done
mkdir -p "$GUEST_DIR/bench"
for prog in bench_ours bench_sessions; do
	gcc -static -O2 -Wall -Werror -isystem "$OBJ_DIR/usr/include" -I"$REPO/tools/liveupdate" \
		-o "$GUEST_DIR/bench/$prog" "$REPO/workbench/bench/$prog.c"
done
ORCH_DIR=$SRC_DIR/tools/testing/selftests/liveupdate/orchestration
make -s -C "$ORCH_DIR" \
	OUTPUT="$GUEST_DIR/kselftest" KHDR_INCLUDES="-isystem $OBJ_DIR/usr/include" \
	LDFLAGS=-static all
# The same uAPI tests as 32-bit programs: a 32-bit agent on a 64-bit
# kernel goes through compat_ioctl.
mkdir -p "$GUEST_DIR/kselftest32"
for prog in liveupdate luo_files luo_memfd; do
	src=$ORCH_DIR/$prog.c
	bin=$GUEST_DIR/kselftest32/$prog
	if stale "$bin" "$src" "$UAPI_H" "$ORCH_DIR"/*.h \
		 "$SRC_DIR"/tools/liveupdate/*.h "$SRC_DIR/kernel/liveupdate/luo_selftests.h"; then
		gcc -m32 -static -O2 -Wall -Werror -isystem "$OBJ_DIR/usr/include" \
			-I"$SRC_DIR/kernel/liveupdate" -I"$SRC_DIR/tools/liveupdate" \
			-o "$bin" "$src" -lpthread
	fi
done
# Upstream 7.3's session selftests, unmodified, with their own Makefile.
# It builds its objects in the current directory, so make runs in the
# output directory and finds the sources through VPATH (its includes
# through -I): the build tree stays as synced. If they do not build (a
# uapi header without the session uAPI), their suites fail as not built.
UPSTREAM_DIR=$SRC_DIR/tools/testing/selftests/liveupdate
mkdir -p "$GUEST_DIR/upstream"
if ! make -s -C "$GUEST_DIR/upstream" -f "$UPSTREAM_DIR/Makefile" -I "$UPSTREAM_DIR" \
	VPATH="$UPSTREAM_DIR" OUTPUT="$GUEST_DIR/upstream" \
	KHDR_INCLUDES="-isystem $OBJ_DIR/usr/include" LDFLAGS=-static all; then
	log "upstream's liveupdate selftests do not build: their suites will fail"
	rm -rf "$GUEST_DIR/upstream"
fi
log "guest programs in $GUEST_DIR"
