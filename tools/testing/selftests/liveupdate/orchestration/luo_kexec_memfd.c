// SPDX-License-Identifier: GPL-2.0-only
/*
 * memfds across a live update (memfd-v1): stage 1 fills memfds, preserves
 * them and kexecs; stage 2 restores them and checks every byte (a checksum
 * over each whole file, compared with the one of the data stage 1 wrote),
 * size, position, seals and memory use, and that the restored pages are
 * counted where the kernel counts page cache pages (the LRU, shmem):
 *
 *   0x1          256 MiB of pseudo-random data, sealed against resizing
 *   0x2          256 MiB with one page in 16 written, plus a page written
 *                into a hole after PREPARE: holes stay holes
 *   0x3          8 MiB in shmem huge pages, which stay huge
 *   0x4          64 MiB never restored: FINISH gives its memory back
 *   0x5          10000 bytes, position 777, write-sealed
 *   0x6          empty
 *   0x1000+i     1000 one-page memfds
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "../../kselftest.h"
#include "luo_test_utils.h"
#include "luo_memfd_utils.h"

#define DENSE_SIZE	(256 * SZ_1M)
#define SPARSE_SIZE	(256 * SZ_1M)
#define SPARSE_STRIDE	16
#define LATE_PAGE	8		/* a hole of the sparse file, written after PREPARE */
#define HUGE_SIZE	(8 * SZ_1M)
#define LOST_SIZE	(64 * SZ_1M)
#define SMALL_SIZE	10000
#define NR_SMALL	1000
#define THP_SHMEM	"/sys/kernel/mm/transparent_hugepage/shmem_enabled"

enum { DENSE = 1, SPARSE, HUGE, LOST, SMALL, EMPTY, MANY = 0x1000 };

/* The checksum of the sparse file as stage 1 leaves it. */
static uint64_t sparse_sum(void)
{
	static uint64_t page[LUO_PAGE_SIZE / 8], zero[LUO_PAGE_SIZE / 8];
	uint64_t h = LUO_SUM_INIT;

	for (size_t i = 0; i < SPARSE_SIZE / LUO_PAGE_SIZE; i++) {
		if (i % SPARSE_STRIDE == 0 || i == LATE_PAGE) {
			luo_fill(page, LUO_PAGE_SIZE, i == LATE_PAGE ? 23 : 22,
				 i * LUO_PAGE_SIZE);
			h = luo_sum(h, page, LUO_PAGE_SIZE);
		} else {
			h = luo_sum(h, zero, LUO_PAGE_SIZE);
		}
	}
	return h;
}

static int preserve_and_close(int fd, int file, __u64 token)
{
	int ret = file < 0 ? -EBADF : luo_fd_preserve(fd, file, token);

	if (file >= 0)
		close(file);
	return ret;
}

static void stage1(void)
{
	int fd = luo_open(), dense, sparse, huge, small, ok;
	long huge_kib = -1;

	ksft_set_plan(11);
	if (fd < 0)
		ksft_exit_fail_msg("cannot open the device\n");

	dense = luo_memfd_random("luo_dense", DENSE_SIZE, 11, MFD_ALLOW_SEALING);
	ok = dense >= 0 && luo_file_sum(dense, DENSE_SIZE) == luo_stream_sum(11, DENSE_SIZE) &&
	     !fcntl(dense, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) &&
	     lseek(dense, 12345, SEEK_SET) == 12345;
	ksft_test_result(ok && !preserve_and_close(fd, dense, DENSE), "dense 256 MiB memfd\n");

	sparse = memfd_create("luo_sparse", 0);
	ok = sparse >= 0 && !ftruncate(sparse, SPARSE_SIZE);
	for (size_t i = 0; ok && i < SPARSE_SIZE / LUO_PAGE_SIZE; i += SPARSE_STRIDE)
		ok = !luo_write_stream(sparse, LUO_PAGE_SIZE, 22, i * LUO_PAGE_SIZE);
	ok = ok && luo_file_pages(sparse) == SPARSE_SIZE / LUO_PAGE_SIZE / SPARSE_STRIDE;
	ksft_test_result(ok && !luo_fd_preserve(fd, sparse, SPARSE),
			 "sparse 256 MiB memfd, %ld pages written\n", luo_file_pages(sparse));

	if (luo_write_file(THP_SHMEM, "always")) {
		ksft_test_result_skip("no shmem huge pages in this kernel\n");
	} else {
		long before = luo_meminfo("ShmemHugePages");

		huge = luo_memfd_random("luo_huge", HUGE_SIZE, 33, 0);
		huge_kib = luo_meminfo("ShmemHugePages") - before;
		luo_write_file(THP_SHMEM, "never");
		ksft_test_result(huge >= 0 && huge_kib >= (long)(HUGE_SIZE / 1024) &&
				 !preserve_and_close(fd, huge, HUGE),
				 "8 MiB memfd in huge pages (%ld KiB)\n", huge_kib);
	}

	ksft_test_result(!preserve_and_close(fd, luo_memfd_random("luo_lost", LOST_SIZE, 44, 0),
					     LOST), "64 MiB memfd that is never restored\n");

	small = luo_memfd_random("luo_small", SMALL_SIZE, 55, MFD_ALLOW_SEALING);
	ok = small >= 0 && lseek(small, 777, SEEK_SET) == 777 &&
	     !fcntl(small, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SEAL);
	ksft_test_result(ok && !preserve_and_close(fd, small, SMALL),
			 "10000-byte write-sealed memfd at position 777\n");
	ksft_test_result(!preserve_and_close(fd, memfd_create("luo_empty", 0), EMPTY),
			 "empty memfd\n");

	ok = 1;
	for (int i = 0; ok && i < NR_SMALL; i++)
		ok = !preserve_and_close(fd, luo_memfd_random("luo_many", LUO_PAGE_SIZE,
							      1000 + i, 0), MANY + i);
	ksft_test_result(ok, "%d one-page memfds\n", NR_SMALL);

	ok = luo_set_event(fd, LIVEUPDATE_PREPARE);
	ksft_test_result(!ok, "PREPARE (%s)\n", strerror(-ok));
	luo_attach_file("/sys/kernel/debug/memfd_luo/outgoing", "memfd_luo_outgoing.txt");
	/* One page in 16 is one run per page: more runs than one chunk holds. */
	ksft_test_result(luo_proc_value("/sys/kernel/debug/memfd_luo/outgoing", "chunks", ' ') >
			 luo_proc_value("/sys/kernel/debug/memfd_luo/outgoing", "files", ' '),
			 "a file's runs span several chunks\n");
	/* Writes inside a prepared file work, holes included. */
	ksft_test_result(!luo_write_stream(sparse, LUO_PAGE_SIZE, 23,
					   LATE_PAGE * LUO_PAGE_SIZE) &&
			 luo_file_sum(sparse, SPARSE_SIZE) == sparse_sum(),
			 "write into a hole of the prepared sparse file\n");
	ksft_test_result(1, "reboot(KEXEC)\n");
	LUO_KEXEC_OR_FAIL();
}

/* KiB on the anonymous LRU lists, where shmem pages are. */
static long anon_lru_kib(void)
{
	return luo_meminfo("Active(anon)") + luo_meminfo("Inactive(anon)");
}

/* Whether a count moved by @kib, give or take what else the system does. */
static int moved_by(long delta, long kib)
{
	return delta >= kib - 2048 && delta <= kib + 4096;
}

static int restore(int fd, __u64 token)
{
	int file = luo_fd_restore(fd, token);

	if (file < 0)
		ksft_print_msg("FD_RESTORE %#llx: %s\n", (unsigned long long)token,
			       strerror(-file));
	return file;
}

static off_t size_of(int file)
{
	struct stat st;

	return fstat(file, &st) ? -1 : st.st_size;
}

static void stage2(void)
{
	int fd = luo_open(), file, ok, keep[3] = { -1, -1, -1 };
	long free_before, free_after, huge_before, lru_before, shmem_before;
	uint64_t page[LUO_PAGE_SIZE / 8], back[LUO_PAGE_SIZE / 8];
	uint64_t buf[SMALL_SIZE / 8];

	ksft_set_plan(15);
	if (fd < 0)
		ksft_exit_fail_msg("cannot open the device\n");
	ksft_test_result(luo_get_state(fd) == LIVEUPDATE_STATE_UPDATED, "UPDATED\n");

	lru_before = anon_lru_kib();
	shmem_before = luo_meminfo("Shmem");
	file = restore(fd, DENSE);
	ksft_test_result(moved_by(anon_lru_kib() - lru_before, DENSE_SIZE / 1024) &&
			 moved_by(luo_meminfo("Shmem") - shmem_before, DENSE_SIZE / 1024),
			 "dense: its pages on the LRU (+%ld KiB) and in Shmem (+%ld KiB)\n",
			 anon_lru_kib() - lru_before, luo_meminfo("Shmem") - shmem_before);
	ok = file >= 0 && size_of(file) == DENSE_SIZE &&
	     luo_file_sum(file, DENSE_SIZE) == luo_stream_sum(11, DENSE_SIZE) &&
	     lseek(file, 0, SEEK_CUR) == 12345 &&
	     fcntl(file, F_GET_SEALS) == (F_SEAL_SHRINK | F_SEAL_GROW);
	ksft_test_result(ok, "dense: every byte, size, position and seals\n");
	ksft_test_result(luo_fd_restore(fd, DENSE) == -EBUSY &&
			 luo_fd_restore(fd, 0xbad) == -ENOENT,
			 "second restore EBUSY, unknown token ENOENT\n");
	keep[0] = file;

	file = restore(fd, SPARSE);
	ksft_test_result(file >= 0 &&
			 luo_file_pages(file) == SPARSE_SIZE / LUO_PAGE_SIZE / SPARSE_STRIDE + 1,
			 "sparse: holds %ld pages, holes stay holes\n",
			 file >= 0 ? luo_file_pages(file) : -1);
	ok = file >= 0 && size_of(file) == SPARSE_SIZE &&
	     luo_file_sum(file, SPARSE_SIZE) == sparse_sum();
	ksft_test_result(ok, "sparse: every byte, the late page included\n");
	keep[1] = file;

	if (luo_path_exists(THP_SHMEM)) {
		huge_before = luo_meminfo("ShmemHugePages");
		file = restore(fd, HUGE);
		ok = file >= 0 && luo_file_sum(file, HUGE_SIZE) == luo_stream_sum(33, HUGE_SIZE);
		ksft_test_result(ok && luo_meminfo("ShmemHugePages") - huge_before >=
				       (long)(HUGE_SIZE / 1024),
				 "huge: every byte, still in huge pages (%ld KiB)\n",
				 luo_meminfo("ShmemHugePages") - huge_before);
		keep[2] = file;
	} else {
		ksft_test_result_skip("no shmem huge pages in this kernel\n");
	}

	file = restore(fd, SMALL);
	luo_fill(buf, SMALL_SIZE, 55, 0);
	ok = file >= 0 && size_of(file) == SMALL_SIZE && lseek(file, 0, SEEK_CUR) == 777 &&
	     fcntl(file, F_GET_SEALS) == (F_SEAL_WRITE | F_SEAL_SEAL) &&
	     luo_file_sum(file, SMALL_SIZE) == luo_sum(LUO_SUM_INIT, buf, SMALL_SIZE) &&
	     pwrite(file, "x", 1, 0) < 0 && errno == EPERM;
	ksft_test_result(ok, "small: bytes, size, position 777, write seal holds\n");
	close(file);

	file = restore(fd, EMPTY);
	ksft_test_result(file >= 0 && size_of(file) == 0 && luo_file_pages(file) == 0 &&
			 fcntl(file, F_GET_SEALS) == F_SEAL_SEAL, "empty\n");
	close(file);

	ok = 1;
	for (int i = 0; ok && i < NR_SMALL; i++) {
		file = restore(fd, MANY + i);
		luo_fill(page, LUO_PAGE_SIZE, 1000 + i, 0);
		ok = file >= 0 && pread(file, back, LUO_PAGE_SIZE, 0) == LUO_PAGE_SIZE &&
		     !memcmp(page, back, LUO_PAGE_SIZE);
		close(file);
	}
	ksft_test_result(ok, "%d one-page memfds\n", NR_SMALL);

	/*
	 * The big restored files stay open, so FINISH frees the file never
	 * restored and the one-page files closed above, which LUO kept until
	 * FINISH: 64 MiB and 4 MiB. Freed pages cached per CPU do not show in
	 * MemFree at once, hence the lower bound of 3/4.
	 */
	free_before = luo_meminfo("MemFree");
	ksft_test_result(!luo_set_event(fd, LIVEUPDATE_FINISH) &&
			 luo_get_state(fd) == LIVEUPDATE_STATE_NORMAL, "FINISH\n");
	free_after = luo_meminfo("MemFree");
	ksft_test_result(free_after - free_before >= (long)(LOST_SIZE / 1024) * 3 / 4 &&
			 free_after - free_before <= (long)(LOST_SIZE / 1024) + 16 * 1024,
			 "FINISH freed the file never restored (%ld KiB)\n",
			 free_after - free_before);
	ksft_test_result(keep[0] >= 0 &&
			 luo_file_sum(keep[0], DENSE_SIZE) == luo_stream_sum(11, DENSE_SIZE),
			 "restored files outlive FINISH\n");
	lru_before = anon_lru_kib();
	shmem_before = luo_meminfo("Shmem");
	close(keep[0]);
	ksft_test_result(moved_by(lru_before - anon_lru_kib(), DENSE_SIZE / 1024) &&
			 moved_by(shmem_before - luo_meminfo("Shmem"), DENSE_SIZE / 1024),
			 "dense closed: its pages leave the LRU (-%ld KiB) and Shmem (-%ld KiB)\n",
			 lru_before - anon_lru_kib(), shmem_before - luo_meminfo("Shmem"));
	for (int i = 1; i < 3; i++)
		close(keep[i]);
	ksft_test_result(luo_fd_state(fd, LOST, 1) == -ENOENT, "no incoming file left\n");
}

LUO_KEXEC_TEST_MAIN(stage1, stage2)
