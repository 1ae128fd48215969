// SPDX-License-Identifier: GPL-2.0-only
/*
 * memfds and khugepaged's collapse across a live update: PREPARE walks the
 * page cache of a memfd while another process collapses its small pages
 * into huge pages with MADV_COLLAPSE, as khugepaged does on its own. A
 * collapse checks the references of the small folios it replaces only
 * once, under their folio locks: a walk that takes its reference after
 * that check and does not look at the folio lock holds a folio that is
 * about to leave the file, and whatever is written into the file after
 * PREPARE never reaches the next kernel.
 *
 * Stage 1 writes memfds of small pages, maps them, starts a process that
 * collapses them over and over, prepares, stops it and then overwrites
 * every byte. Stage 2 restores the memfds and checks that every byte is
 * the one written after PREPARE.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "../../kselftest.h"
#include "luo_test_utils.h"
#include "luo_memfd_utils.h"

#define NR_FILES	4
#define SIZE		(32 * SZ_1M)
#define TOKEN		0xc011
#define OLD_SEED	1
#define NEW_SEED	2
#define THP_SHMEM	"/sys/kernel/mm/transparent_hugepage/shmem_enabled"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE	25
#endif

/* Maps a file at an address aligned to huge pages, as collapsing needs. */
static char *map_aligned(int file)
{
	char *area = mmap(NULL, SIZE + 2 * SZ_1M, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *at;

	if (area == MAP_FAILED)
		return MAP_FAILED;
	at = (char *)(((uintptr_t)area + 2 * SZ_1M - 1) & ~(uintptr_t)(2 * SZ_1M - 1));
	return mmap(at, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, file, 0);
}

/* Collapses every file's pages into huge pages, again and again. */
static void collapse_forever(char **maps)
{
	for (;;)
		for (int i = 0; i < NR_FILES; i++)
			madvise(maps[i], SIZE, MADV_COLLAPSE);
}

static void stage1(void)
{
	int fd = luo_open(), files[NR_FILES], ok = 1, collapsed;
	char *maps[NR_FILES];
	pid_t child;

	ksft_set_plan(6);
	if (fd < 0)
		ksft_exit_fail_msg("cannot open the device\n");
	/* Small pages first. */
	luo_write_file(THP_SHMEM, "never");
	for (int i = 0; i < NR_FILES; i++) {
		files[i] = luo_memfd_random("luo_collapse", SIZE, OLD_SEED + 10 * i, 0);
		maps[i] = files[i] < 0 ? MAP_FAILED : map_aligned(files[i]);
		ok = ok && maps[i] != MAP_FAILED && !luo_fd_preserve(fd, files[i], TOKEN + i);
	}
	ksft_test_result(ok, "%d memfds of %lu MiB in small pages, mapped\n", NR_FILES,
			 SIZE / SZ_1M);
	/* MADV_COLLAPSE needs huge pages allowed in shmem. */
	luo_write_file(THP_SHMEM, "advise");
	collapsed = ok && !madvise(maps[0], 2 * SZ_1M, MADV_COLLAPSE);
	if (!collapsed)
		ksft_print_msg("MADV_COLLAPSE: %s\n", strerror(errno));
	ksft_test_result(collapsed, "MADV_COLLAPSE works on them\n");

	child = fork();
	if (child == 0) {
		collapse_forever(maps);
		_exit(0);
	}
	/* Let it start, then walk the files while it collapses them. */
	usleep(20000);
	ok = luo_set_event(fd, LIVEUPDATE_PREPARE);
	ksft_test_result(!ok, "PREPARE while they are collapsed (%s)\n", strerror(-ok));
	ksft_test_result(child > 0 && !kill(child, SIGKILL) && waitpid(child, NULL, 0) == child,
			 "the collapsing process stopped\n");
	luo_write_file(THP_SHMEM, "never");

	ok = 1;
	for (int i = 0; i < NR_FILES; i++)
		ok = ok && !luo_write_stream(files[i], SIZE, NEW_SEED + 10 * i, 0);
	ksft_test_result(ok, "every byte written again after PREPARE\n");
	ksft_test_result(1, "reboot(KEXEC)\n");
	LUO_KEXEC_OR_FAIL();
}

static void stage2(void)
{
	int fd = luo_open();

	ksft_set_plan(NR_FILES);
	if (fd < 0)
		ksft_exit_fail_msg("cannot open the device\n");
	for (int i = 0; i < NR_FILES; i++) {
		int file = luo_fd_restore(fd, TOKEN + i);

		ksft_test_result(file >= 0 && luo_file_sum(file, SIZE) ==
					      luo_stream_sum(NEW_SEED + 10 * i, SIZE),
				 "memfd %d: every byte written after PREPARE\n", i);
	}
}

LUO_KEXEC_TEST_MAIN(stage1, stage2)
