// SPDX-License-Identifier: GPL-2.0-only
/*
 * FINISH gives back what nobody claimed: the memory of a memfd never
 * restored, and that of a memfd whose hand-over the next kernel refuses as
 * bad data; a subsystem's data that no subsystem takes stays reserved and
 * is counted. /sys/kernel/liveupdate/handover reports both.
 *
 * Stage 1 preserves three memfds and freezes one of them alone, ahead of
 * the others, with the memfd handler's test hook on (memfd_luo/damage in
 * debugfs), so that its header claims one page more than its runs hold;
 * it also prepares a test subsystem that stage 2 never registers:
 *
 *   0x1   8 MiB, restored: its memory stays with the new memfd
 *   0x2   8 MiB, never restored
 *   0x3   8 MiB, damaged: FD_RESTORE gets EIO
 *
 * Stage 2 restores 0x1, fails on 0x3 and sends FINISH: MemTotal must grow
 * by the 16 MiB of 0x2 and 0x3 (plus a few pages of metadata), and the
 * handover file must say the same.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "../../kselftest.h"
#include "luo_test_utils.h"
#include "luo_memfd_utils.h"

#define SIZE		(8 * SZ_1M)
#define DAMAGE		"/sys/kernel/debug/memfd_luo/damage"
#define SUBSYSTEM	"ksft_release"

enum { RESTORED = 1, LOST, DAMAGED };

static void stage1(void)
{
	static unsigned char page[LUO_PAGE_SIZE];
	int fd = luo_open(), hook = luo_selftest_open(), ok = 1, on, prepared, frozen, off;

	ksft_set_plan(5);
	if (fd < 0 || hook < 0)
		ksft_exit_fail_msg("cannot open the device or the test hook\n");
	for (int token = RESTORED; ok && token <= DAMAGED; token++) {
		int file = luo_memfd_random("luo_release", SIZE, token, 0);

		ok = file >= 0 && !luo_fd_preserve(fd, file, token);
		if (file >= 0)
			close(file);
	}
	ksft_test_result(ok, "three 8 MiB memfds preserved\n");
	on = luo_write_file(DAMAGE, "1");
	prepared = luo_fd_event(fd, DAMAGED, LIVEUPDATE_PREPARE);
	frozen = luo_fd_event(fd, DAMAGED, LIVEUPDATE_FREEZE);
	off = luo_write_file(DAMAGE, "0");
	ksft_test_result(!on && !prepared && !frozen && !off,
			 "memfd 0x3 frozen alone with a damaged header (%d %d %d %d)\n",
			 on, prepared, frozen, off);
	luo_fill_page(page, 7);
	ksft_test_result(!luo_register(hook, SUBSYSTEM, page), "a test subsystem\n");
	ok = luo_set_event(fd, LIVEUPDATE_PREPARE);
	ksft_test_result(!ok, "PREPARE (%s)\n", strerror(-ok));
	ksft_test_result(1, "reboot(KEXEC)\n");
	LUO_KEXEC_OR_FAIL();
}

static void stage2(void)
{
	int fd = luo_open(), restored, damaged;
	long before, after, released_kib = -1;
	char buf[256] = "";
	const char *s;

	ksft_set_plan(7);
	if (fd < 0)
		ksft_exit_fail_msg("cannot open the device\n");
	ksft_test_result(luo_get_state(fd) == LIVEUPDATE_STATE_UPDATED, "state UPDATED\n");
	restored = luo_fd_restore(fd, RESTORED);
	ksft_test_result(restored >= 0 &&
			 luo_file_sum(restored, SIZE) == luo_stream_sum(RESTORED, SIZE),
			 "memfd 0x1 restored, every byte\n");
	damaged = luo_fd_restore(fd, DAMAGED);
	ksft_test_result(damaged == -EIO, "memfd 0x3 refused: %s\n", strerror(-damaged));

	before = luo_meminfo("MemTotal");
	ksft_test_result(!luo_set_event(fd, LIVEUPDATE_FINISH), "FINISH\n");
	after = luo_meminfo("MemTotal");
	luo_read_file(LUO_SYSFS_HANDOVER, buf, sizeof(buf));
	printf("# handover: %s", buf);
	printf("# MemTotal %ld -> %ld KiB\n", before, after);
	/* 0x2 and 0x3 come back, not 0x1; their chunks are a few pages more. */
	ksft_test_result(after - before >= 2 * SIZE / 1024 &&
			 after - before < 2 * SIZE / 1024 + 1024,
			 "FINISH gave back %ld KiB, the two memfds nobody restored\n",
			 after - before);
	s = strstr(buf, "finished: ");
	if (s)
		released_kib = atol(s + strlen("finished: "));
	ksft_test_result(!strncmp(buf, "accepted, finished: ", 20) &&
			 released_kib == after - before &&
			 strstr(buf, "0 file(s) and 1 subsystem(s) unclaimed"),
			 "the handover file reports it\n");
	ksft_test_result(restored >= 0 &&
			 luo_file_sum(restored, SIZE) == luo_stream_sum(RESTORED, SIZE),
			 "memfd 0x1 intact after FINISH\n");
}

LUO_KEXEC_TEST_MAIN(stage1, stage2)
