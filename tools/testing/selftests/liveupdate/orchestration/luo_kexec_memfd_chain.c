// SPDX-License-Identifier: GPL-2.0-only
/*
 * Five live updates in a row with the same memfd carried through all of
 * them: six kernels. Each kernel restores the 64 MiB data memfd and checks
 * every byte, writes its own stamp into it (so the next kernel checks that
 * writes between updates survive too), and records its free memory after
 * FINISH in a second memfd, the ledger, which travels along. The last
 * kernel checks that memory use did not grow from one kernel to the next:
 * nothing a hand-over leaves behind may pile up.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "../../kselftest.h"
#include "luo_test_utils.h"
#include "luo_memfd_utils.h"

#define KERNELS		6
#define DATA		0xda7a
#define LEDGER		0x1ed6e7
#define DATA_SIZE	(64 * SZ_1M)
#define SEED		99
/* Free memory may drift by this much over the chain, no more. */
#define DRIFT_KIB	(8 * 1024)

/* The data memfd's expected sum after kernel `stage` stamped it. */
static uint64_t data_sum(int stage)
{
	static uint64_t buf[SZ_1M / 8];
	uint64_t h = LUO_SUM_INIT;

	for (size_t off = 0; off < DATA_SIZE; off += sizeof(buf)) {
		luo_fill(buf, sizeof(buf), SEED, off);
		if (!off)
			for (int s = 1; s <= stage; s++)
				buf[s] = 0x57a3b000 + s;
		h = luo_sum(h, buf, sizeof(buf));
	}
	return h;
}

static int stamp(int data, int stage)
{
	uint64_t v = 0x57a3b000 + stage;

	return pwrite(data, &v, sizeof(v), stage * sizeof(v)) == sizeof(v) ? 0 : -1;
}

static void preserve_and_kexec(int fd, int data, int ledger)
{
	ksft_test_result(!luo_fd_preserve(fd, data, DATA) && !luo_fd_preserve(fd, ledger, LEDGER) &&
			 !luo_set_event(fd, LIVEUPDATE_PREPARE), "preserve and PREPARE\n");
	LUO_KEXEC_OR_FAIL();
}

static void stage_first(void)
{
	int fd = luo_open(), data, ledger = memfd_create("luo_ledger", 0);

	ksft_set_plan(2);
	if (fd < 0 || ledger < 0)
		ksft_exit_fail_msg("cannot open the device or create the ledger\n");
	data = luo_memfd_random("luo_chain", DATA_SIZE, SEED, 0);
	ksft_test_result(data >= 0 && !stamp(data, 1) &&
			 luo_file_sum(data, DATA_SIZE) == data_sum(1), "64 MiB memfd, stamped\n");
	preserve_and_kexec(fd, data, ledger);
}

static void stage_next(int stage)
{
	int fd = luo_open(), data, ledger, last = stage == KERNELS;
	long free_kib[KERNELS + 1] = { 0 }, lo, hi;

	ksft_set_plan(5);
	if (fd < 0)
		ksft_exit_fail_msg("cannot open the device\n");
	data = luo_fd_restore(fd, DATA);
	ledger = luo_fd_restore(fd, LEDGER);
	ksft_test_result(data >= 0 && ledger >= 0, "kernel %d: both memfds restored\n", stage);
	ksft_test_result(data >= 0 && luo_file_sum(data, DATA_SIZE) == data_sum(stage - 1),
			 "every byte, and the stamps of kernels 1..%d\n", stage - 1);
	ksft_test_result(!luo_set_event(fd, LIVEUPDATE_FINISH), "FINISH\n");

	/* The ledger: free memory after FINISH, one slot per kernel. */
	if (ledger >= 0)
		pread(ledger, free_kib, sizeof(free_kib), 0);
	free_kib[stage] = luo_meminfo("MemFree");
	ksft_test_result(ledger >= 0 && pwrite(ledger, free_kib, sizeof(free_kib), 0) ==
			 sizeof(free_kib) && !stamp(data, stage),
			 "kernel %d: %ld KiB free after FINISH\n", stage, free_kib[stage]);
	if (!last) {
		preserve_and_kexec(fd, data, ledger);
		return;
	}
	lo = free_kib[2];
	hi = lo;
	for (int s = 2; s <= KERNELS; s++) {
		ksft_print_msg("kernel %d: %ld KiB free\n", s, free_kib[s]);
		lo = free_kib[s] < lo ? free_kib[s] : lo;
		hi = free_kib[s] > hi ? free_kib[s] : hi;
	}
	ksft_test_result(free_kib[KERNELS] >= free_kib[2] - DRIFT_KIB,
			 "memory use did not grow over %d updates (free %ld..%ld KiB)\n",
			 KERNELS - 1, lo, hi);
}

LUO_KEXEC_CHAIN_MAIN(KERNELS, stage_first, stage_next)
