// SPDX-License-Identifier: GPL-2.0-only
/*
 * A memfd bigger than the memory the next kernel counts at boot: a VM's
 * memory is most of a host's. Until a preserved page is restored, the
 * next kernel does not count it in MemTotal, so a restore that accounted
 * the whole file's blocks before taking any of its memory back would ask
 * for more than MemTotal and fail.
 *
 * Stage 1 fills a memfd of 3/5 of MemTotal, preserves it and kexecs;
 * stage 2 checks that the file is bigger than MemTotal before it is
 * restored, restores it, checks every byte and sends FINISH.
 */
#define _GNU_SOURCE
#include <sys/stat.h>

#include "../../kselftest.h"
#include "luo_test_utils.h"
#include "luo_memfd_utils.h"

#define TOKEN	0xb16
#define SEED	61

static void stage1(void)
{
	size_t size = (size_t)luo_meminfo("MemTotal") * 1024 / 5 * 3 & ~(4 * SZ_1M - 1);
	int fd = luo_open(), file, ok;

	ksft_set_plan(3);
	if (fd < 0)
		ksft_exit_fail_msg("cannot open the device\n");
	file = luo_memfd_random("luo_big", size, SEED, 0);
	ksft_test_result(file >= 0 && !luo_fd_preserve(fd, file, TOKEN),
			 "a %zu MiB memfd preserved\n", size / SZ_1M);
	ok = luo_set_event(fd, LIVEUPDATE_PREPARE);
	ksft_test_result(!ok, "PREPARE (%s)\n", strerror(-ok));
	ksft_test_result(1, "reboot(KEXEC)\n");
	LUO_KEXEC_OR_FAIL();
}

static void stage2(void)
{
	long total = luo_meminfo("MemTotal");
	int fd = luo_open(), file;
	off_t size = -1;
	struct stat st;

	ksft_set_plan(4);
	if (fd < 0)
		ksft_exit_fail_msg("cannot open the device\n");
	file = luo_fd_restore(fd, TOKEN);
	ksft_test_result(file >= 0, "restored (%s)\n", file < 0 ? strerror(-file) : "ok");
	if (file >= 0 && !fstat(file, &st))
		size = st.st_size;
	ksft_test_result(size / 1024 > total,
			 "it is bigger than MemTotal was before (%ld KiB)\n", total);
	ksft_test_result(size > 0 && luo_file_sum(file, size) == luo_stream_sum(SEED, size),
			 "every byte\n");
	ksft_test_result(!luo_set_event(fd, LIVEUPDATE_FINISH), "FINISH\n");
}

LUO_KEXEC_TEST_MAIN(stage1, stage2)
