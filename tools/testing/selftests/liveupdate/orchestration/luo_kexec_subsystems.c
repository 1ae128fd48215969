// SPDX-License-Identifier: GPL-2.0-only
/*
 * Sixteen subsystems survive a live update: stage 1 registers 16 test
 * subsystems, each with its own page of known bytes, prepares and kexecs;
 * stage 2 finds the hand-over accepted and the state UPDATED, registers
 * the same names again, gets each page back, and FINISH returns to NORMAL
 * and releases what was handed over. Stage 1 also dumps the published
 * blob for the host to decode with dtc.
 */
#include <pthread.h>

#include "../../kselftest.h"
#include "luo_test_utils.h"

#define COUNT LUO_SELFTEST_MAX_SUBSYSTEMS

static unsigned char page[LUO_PAGE_SIZE], out[LUO_PAGE_SIZE];

static const char *name(int i)
{
	static char buf[32];

	snprintf(buf, sizeof(buf), "ksft_kexec_%d", i);
	return buf;
}

static int racing = 1;

/* GETDATA on every subsystem, over and over, while the main thread FINISHes. */
static void *getdata_loop(void *arg)
{
	static unsigned char buf[LUO_PAGE_SIZE];
	int hook = *(int *)arg;
	char n[32];

	while (__atomic_load_n(&racing, __ATOMIC_RELAXED)) {
		for (int i = 0; i < COUNT; i++) {
			snprintf(n, sizeof(n), "ksft_kexec_%d", i);
			luo_getdata(hook, n, buf);
		}
	}
	return NULL;
}

static void stage1(void)
{
	int fd = luo_open(), hook = luo_selftest_open(), ok = 1;

	ksft_set_plan(5);
	if (fd < 0 || hook < 0)
		ksft_exit_fail_msg("cannot open the device or the test hook\n");
	for (int i = 0; i < COUNT; i++) {
		luo_fill_page(page, 100 + i);
		ok &= !luo_register(hook, name(i), page);
	}
	ksft_test_result(ok, "register %d subsystems\n", COUNT);
	ksft_test_result(!luo_set_event(fd, LIVEUPDATE_PREPARE), "PREPARE\n");
	for (int i = 0; i < COUNT; i++) {
		luo_fill_page(page, 100 + i);
		ok &= !luo_getdata(hook, name(i), out) && !memcmp(page, out, sizeof(page));
	}
	ksft_test_result(ok, "each subsystem hands over its page\n");
	ksft_test_result(!luo_attach_file(KHO_OUT_LUO, "luo.dtb"),
			 "the published LUO blob is readable in KHO's debugfs\n");
	ksft_test_result(1, "reboot(KEXEC)\n");
	LUO_KEXEC_OR_FAIL();
}

static void stage2(void)
{
	const char *sample_finished =
		"rust_liveupdate: finish: live update to generation 1 complete";
	int fd = luo_open(), hook = luo_selftest_open(), ok = 1;
	char buf[128] = "";
	pthread_t thread;

	ksft_set_plan(9);
	if (fd < 0 || hook < 0)
		ksft_exit_fail_msg("cannot open the device or the test hook\n");
	ksft_test_result(luo_read_file(LUO_SYSFS_HANDOVER, buf, sizeof(buf)) > 0 &&
			 !strcmp(buf, "accepted\n"), "hand-over accepted\n");
	ksft_test_result(luo_get_state(fd) == LIVEUPDATE_STATE_UPDATED &&
			 luo_read_file(LUO_SYSFS_STATE, buf, sizeof(buf)) > 0 &&
			 !strcmp(buf, "updated\n"), "state UPDATED\n");
	ksft_test_result(luo_log_contains("rust_liveupdate: boot: this kernel is generation 1"),
			 "the Rust sample learned its generation at registration\n");
	for (int i = 0; i < COUNT; i++)
		ok &= !luo_register(hook, name(i), page);
	ksft_test_result(ok, "register the same %d subsystems again\n", COUNT);
	ksft_test_result(luo_log_contains("luo_selftest: ksft_kexec_15: handed over data"),
			 "boot() delivered at registration\n");
	for (int i = 0; i < COUNT; i++) {
		luo_fill_page(page, 100 + i);
		ok &= !luo_getdata(hook, name(i), out) && !memcmp(page, out, sizeof(page));
	}
	ksft_test_result(ok, "every page came back with its bytes\n");
	/* FINISH gives the pages back while another thread reads them. */
	ok = !pthread_create(&thread, NULL, getdata_loop, &hook);
	usleep(20000);
	ok = !luo_set_event(fd, LIVEUPDATE_FINISH) && ok;
	__atomic_store_n(&racing, 0, __ATOMIC_RELAXED);
	pthread_join(thread, NULL);
	ksft_test_result(ok && luo_get_state(fd) == LIVEUPDATE_STATE_NORMAL,
			 "FINISH while GETDATA runs: NORMAL\n");
	ksft_test_result(luo_getdata(hook, name(0), out) == -ENODATA,
			 "incoming data released at FINISH\n");
	ksft_test_result(luo_log_contains(sample_finished), "finish() called\n");
}

LUO_KEXEC_TEST_MAIN(stage1, stage2)
