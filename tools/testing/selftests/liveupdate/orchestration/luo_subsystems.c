// SPDX-License-Identifier: GPL-2.0-only
/*
 * Live Update Orchestrator selftests of the in-kernel subsystem API,
 * through the test hook (CONFIG_LIVEUPDATE_SELFTESTS): registration rules,
 * the data each subsystem hands over, and the cancel path when a
 * subsystem fails prepare or freeze.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../kselftest_harness.h"
#include "luo_test_utils.h"

FIXTURE(subsys)
{
	int fd;
	int hook;
	unsigned char page[LUO_PAGE_SIZE];
	unsigned char out[LUO_PAGE_SIZE];
};

FIXTURE_SETUP(subsys)
{
	self->fd = luo_open();
	ASSERT_LE(0, self->fd);
	self->hook = luo_selftest_open();
	ASSERT_LE(0, self->hook);
	luo_fill_page(self->page, 1);
}

static const char *const test_names[] = {
	"ksft_a", "ksft_b", "ksft_c", LUO_SELFTEST_PREPARE_FAIL "_x",
	LUO_SELFTEST_FREEZE_FAIL "_y", LUO_SELFTEST_PREPARE_SLOW "_z",
};

FIXTURE_TEARDOWN(subsys)
{
	char name[32];

	if (luo_get_state(self->fd) == LIVEUPDATE_STATE_UPDATED)
		luo_set_event(self->fd, LIVEUPDATE_FINISH);
	else if (luo_get_state(self->fd) != LIVEUPDATE_STATE_NORMAL)
		luo_set_event(self->fd, LIVEUPDATE_CANCEL);
	for (unsigned int i = 0; i < ARRAY_SIZE(test_names); i++)
		luo_unregister(self->hook, test_names[i]);
	for (int i = 0; i < LUO_SELFTEST_MAX_SUBSYSTEMS + 1; i++) {
		snprintf(name, sizeof(name), "ksft_many_%d", i);
		luo_unregister(self->hook, name);
	}
	close(self->hook);
	close(self->fd);
}

TEST_F(subsys, register_unregister)
{
	EXPECT_EQ(0, luo_register(self->hook, "ksft_a", self->page));
	EXPECT_EQ(0, luo_unregister(self->hook, "ksft_a"));
	EXPECT_EQ(-ENOENT, luo_unregister(self->hook, "ksft_a"));
}

TEST_F(subsys, duplicate_name)
{
	ASSERT_EQ(0, luo_register(self->hook, "ksft_a", self->page));
	EXPECT_EQ(-EEXIST, luo_register(self->hook, "ksft_a", self->page));
}

TEST_F(subsys, sixteen_subsystems)
{
	char name[32];

	for (int i = 0; i < LUO_SELFTEST_MAX_SUBSYSTEMS; i++) {
		snprintf(name, sizeof(name), "ksft_many_%d", i);
		luo_fill_page(self->page, i);
		ASSERT_EQ(0, luo_register(self->hook, name, self->page));
	}
	snprintf(name, sizeof(name), "ksft_many_%d", LUO_SELFTEST_MAX_SUBSYSTEMS);
	EXPECT_EQ(-ENOSPC, luo_register(self->hook, name, self->page));

	/* Each one hands over its own page. */
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_PREPARE));
	for (int i = 0; i < LUO_SELFTEST_MAX_SUBSYSTEMS; i++) {
		snprintf(name, sizeof(name), "ksft_many_%d", i);
		luo_fill_page(self->page, i);
		ASSERT_EQ(0, luo_getdata(self->hook, name, self->out));
		EXPECT_EQ(0, memcmp(self->page, self->out, LUO_PAGE_SIZE));
	}
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_CANCEL));
}

TEST_F(subsys, no_registration_while_prepared)
{
	ASSERT_EQ(0, luo_register(self->hook, "ksft_a", self->page));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_PREPARE));
	EXPECT_EQ(-EBUSY, luo_register(self->hook, "ksft_b", self->page));
	EXPECT_EQ(-EBUSY, luo_unregister(self->hook, "ksft_a"));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_CANCEL));
	EXPECT_EQ(0, luo_unregister(self->hook, "ksft_a"));
}

TEST_F(subsys, data_matches_page_after_prepare)
{
	EXPECT_EQ(-ENOENT, luo_getdata(self->hook, "ksft_a", self->out));
	ASSERT_EQ(0, luo_register(self->hook, "ksft_a", self->page));
	EXPECT_EQ(-ENODATA, luo_getdata(self->hook, "ksft_a", self->out));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_PREPARE));
	ASSERT_EQ(0, luo_getdata(self->hook, "ksft_a", self->out));
	EXPECT_EQ(0, memcmp(self->page, self->out, LUO_PAGE_SIZE));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_CANCEL));
	/* Cancel released what prepare preserved. */
	EXPECT_EQ(-ENODATA, luo_getdata(self->hook, "ksft_a", self->out));
}

TEST_F(subsys, prepare_failure_cancels_the_others)
{
	ASSERT_EQ(0, luo_register(self->hook, "ksft_a", self->page));
	ASSERT_EQ(0, luo_register(self->hook, "ksft_b", self->page));
	ASSERT_EQ(0, luo_register(self->hook, LUO_SELFTEST_PREPARE_FAIL "_x", self->page));
	ASSERT_EQ(0, luo_register(self->hook, "ksft_c", self->page));

	EXPECT_EQ(-EIO, luo_set_event(self->fd, LIVEUPDATE_PREPARE));
	EXPECT_EQ(LIVEUPDATE_STATE_NORMAL, luo_get_state(self->fd));
	EXPECT_EQ(-ENODATA, luo_getdata(self->hook, "ksft_a", self->out));
	EXPECT_EQ(-ENODATA, luo_getdata(self->hook, "ksft_b", self->out));
	EXPECT_EQ(-ENODATA, luo_getdata(self->hook, "ksft_c", self->out));

	/* Nothing is left behind: without the failing one, PREPARE works. */
	ASSERT_EQ(0, luo_unregister(self->hook, LUO_SELFTEST_PREPARE_FAIL "_x"));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_PREPARE));
	ASSERT_EQ(0, luo_getdata(self->hook, "ksft_c", self->out));
	EXPECT_EQ(0, memcmp(self->page, self->out, LUO_PAGE_SIZE));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_CANCEL));
}

TEST_F(subsys, prepare_freeze_cancel)
{
	char buf[64];

	ASSERT_EQ(0, luo_register(self->hook, "ksft_a", self->page));
	EXPECT_EQ(-EBUSY, luo_freeze(self->hook));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_PREPARE));
	ASSERT_EQ(0, luo_freeze(self->hook));
	EXPECT_EQ(LIVEUPDATE_STATE_FROZEN, luo_get_state(self->fd));
	ASSERT_LT(0, luo_read_file(LUO_SYSFS_STATE, buf, sizeof(buf)));
	EXPECT_STREQ("frozen\n", buf);
	EXPECT_EQ(-EBUSY, luo_freeze(self->hook));
	EXPECT_EQ(-EBUSY, luo_set_event(self->fd, LIVEUPDATE_PREPARE));
	EXPECT_EQ(-EBUSY, luo_register(self->hook, "ksft_b", self->page));
	ASSERT_EQ(0, luo_getdata(self->hook, "ksft_a", self->out));
	EXPECT_EQ(0, memcmp(self->page, self->out, LUO_PAGE_SIZE));

	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_CANCEL));
	EXPECT_EQ(LIVEUPDATE_STATE_NORMAL, luo_get_state(self->fd));
	EXPECT_EQ(-ENODATA, luo_getdata(self->hook, "ksft_a", self->out));
}

TEST_F(subsys, freeze_failure_cancels_everything)
{
	ASSERT_EQ(0, luo_register(self->hook, "ksft_a", self->page));
	ASSERT_EQ(0, luo_register(self->hook, LUO_SELFTEST_FREEZE_FAIL "_y", self->page));
	ASSERT_EQ(0, luo_register(self->hook, "ksft_b", self->page));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_PREPARE));
	ASSERT_EQ(0, luo_getdata(self->hook, "ksft_b", self->out));

	EXPECT_EQ(-EIO, luo_freeze(self->hook));
	EXPECT_EQ(LIVEUPDATE_STATE_NORMAL, luo_get_state(self->fd));
	EXPECT_EQ(-ENODATA, luo_getdata(self->hook, "ksft_a", self->out));
	EXPECT_EQ(-ENODATA, luo_getdata(self->hook, LUO_SELFTEST_FREEZE_FAIL "_y", self->out));
	EXPECT_EQ(-ENODATA, luo_getdata(self->hook, "ksft_b", self->out));
}

/* Closing /dev/liveupdate while frozen cancels the update too. */
TEST_F(subsys, close_in_frozen_cancels)
{
	int fd;

	ASSERT_EQ(0, luo_register(self->hook, "ksft_a", self->page));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_PREPARE));
	ASSERT_EQ(0, luo_freeze(self->hook));
	close(self->fd);
	fd = luo_open();
	ASSERT_LE(0, fd);
	self->fd = fd;
	EXPECT_EQ(LIVEUPDATE_STATE_NORMAL, luo_get_state(fd));
	EXPECT_EQ(-ENODATA, luo_getdata(self->hook, "ksft_a", self->out));
}

TEST_F(subsys, bad_names)
{
	struct luo_arg_subsystem arg = { .data_page = self->page };
	struct liveupdate_selftest st = { .cmd = LUO_CMD_SUBSYSTEM_REGISTER,
					  .arg = (__u64)(unsigned long)&arg };

	/* Empty and unterminated names are refused. */
	EXPECT_EQ(-1, ioctl(self->hook, LIVEUPDATE_IOCTL_SELFTESTS, &st));
	EXPECT_EQ(EINVAL, errno);
	memset(arg.name, 'x', sizeof(arg.name));
	EXPECT_EQ(-1, ioctl(self->hook, LIVEUPDATE_IOCTL_SELFTESTS, &st));
	EXPECT_EQ(EINVAL, errno);
	/* A bad page pointer is refused and registers nothing. */
	EXPECT_EQ(-EFAULT, luo_register(self->hook, "ksft_a", NULL));
	EXPECT_EQ(-ENOENT, luo_unregister(self->hook, "ksft_a"));
}

static void on_signal(int sig)
{
}

struct slow_prepare {
	int fd;
	int err;
};

static void *prepare_thread(void *p)
{
	struct slow_prepare *arg = p;

	arg->err = luo_set_event(arg->fd, LIVEUPDATE_PREPARE);
	return NULL;
}

static void *cancel_thread(void *p)
{
	struct slow_prepare *arg = p;

	arg->err = luo_set_event(arg->fd, LIVEUPDATE_CANCEL);
	return NULL;
}

/*
 * A request that waits for a running transition and is interrupted by a
 * signal fails with EINTR and changes nothing.
 */
TEST_F(subsys, wait_interrupted_by_signal)
{
	struct slow_prepare prep = { .fd = self->fd }, cancel = { .fd = self->fd };
	struct sigaction sa = { .sa_handler = on_signal };
	pthread_t t1, t2;

	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	ASSERT_EQ(0, luo_register(self->hook, LUO_SELFTEST_PREPARE_SLOW "_z", self->page));
	ASSERT_EQ(0, pthread_create(&t1, NULL, prepare_thread, &prep));
	usleep(200 * 1000);	/* PREPARE is now inside the slow subsystem */
	ASSERT_EQ(0, pthread_create(&t2, NULL, cancel_thread, &cancel));
	usleep(200 * 1000);	/* CANCEL is now waiting for PREPARE */
	ASSERT_EQ(0, pthread_kill(t2, SIGUSR1));
	pthread_join(t2, NULL);
	pthread_join(t1, NULL);
	EXPECT_EQ(-EINTR, cancel.err);
	EXPECT_EQ(0, prep.err);
	EXPECT_EQ(LIVEUPDATE_STATE_PREPARED, luo_get_state(self->fd));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_CANCEL));
}

/* A C driver registered at subsys_initcall, before LUO's device existed. */
TEST_F(subsys, registered_from_subsys_initcall)
{
	EXPECT_EQ(-EEXIST, luo_register(self->hook, "ksft_early", self->page));
}

/*
 * The Rust sample (samples/rust/rust_liveupdate.rs) takes part through the
 * safe Rust abstraction: its callbacks run on PREPARE and CANCEL.
 */
TEST_F(subsys, rust_sample_takes_part)
{
	int kmsg;

	EXPECT_EQ(-EEXIST, luo_register(self->hook, "rust_liveupdate", self->page));
	kmsg = luo_kmsg_open();
	ASSERT_LE(0, kmsg);
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_PREPARE));
	EXPECT_TRUE(luo_kmsg_contains(kmsg, "rust_liveupdate: prepare: handing over generation 1"));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_CANCEL));
	EXPECT_TRUE(luo_kmsg_contains(kmsg, "rust_liveupdate: cancel: generation 1 stays here"));
	close(kmsg);
}

/*
 * The UPDATED state, entered through the test hook the way an accepted
 * hand-over enters it: boot() for registered and later subsystems, the
 * incoming data, what is refused, and FINISH. Keep it last: it moves the
 * Rust sample to another generation.
 */
TEST_F(subsys, updated_boot_data_finish)
{
	const char *sample_finished =
		"rust_liveupdate: finish: live update to generation 41 complete";
	char buf[64];
	int kmsg = luo_kmsg_open();

	ASSERT_LE(0, kmsg);
	ASSERT_EQ(0, luo_register(self->hook, "ksft_a", self->page));
	ASSERT_EQ(0, luo_enter_updated(self->hook, "ksft_a", 0));
	EXPECT_EQ(LIVEUPDATE_STATE_UPDATED, luo_get_state(self->fd));
	ASSERT_LT(0, luo_read_file(LUO_SYSFS_STATE, buf, sizeof(buf)));
	EXPECT_STREQ("updated\n", buf);
	EXPECT_TRUE(luo_kmsg_contains(kmsg, "luo_selftest: ksft_a: handed over data 0"));

	/* The Rust sample learns its generation in boot(). */
	ASSERT_EQ(0, luo_enter_updated(self->hook, "rust_liveupdate", 41));
	EXPECT_TRUE(luo_kmsg_contains(kmsg, "rust_liveupdate: boot: this kernel is generation 41"));
	EXPECT_EQ(-EEXIST, luo_enter_updated(self->hook, "ksft_a", 5));

	/* A subsystem registered in UPDATED gets boot() at registration. */
	ASSERT_EQ(0, luo_enter_updated(self->hook, "ksft_b", 0));
	ASSERT_EQ(0, luo_register(self->hook, "ksft_b", self->page));
	EXPECT_TRUE(luo_kmsg_contains(kmsg, "luo_selftest: ksft_b: handed over data 0"));
	ASSERT_EQ(0, luo_register(self->hook, "ksft_c", self->page));
	/* No data for ksft_c; ksft_b's data (0) is found but is no page. */
	EXPECT_EQ(-ENODATA, luo_getdata(self->hook, "ksft_c", self->out));
	EXPECT_EQ(-EINVAL, luo_getdata(self->hook, "ksft_b", self->out));

	EXPECT_EQ(-EBUSY, luo_set_event(self->fd, LIVEUPDATE_PREPARE));
	EXPECT_EQ(-EBUSY, luo_set_event(self->fd, LIVEUPDATE_CANCEL));
	EXPECT_EQ(0, luo_unregister(self->hook, "ksft_c"));

	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_FINISH));
	EXPECT_EQ(LIVEUPDATE_STATE_NORMAL, luo_get_state(self->fd));
	EXPECT_TRUE(luo_kmsg_contains(kmsg, sample_finished));
	EXPECT_EQ(-EBUSY, luo_set_event(self->fd, LIVEUPDATE_FINISH));

	/* The next update hands over the next generation. */
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_PREPARE));
	EXPECT_TRUE(luo_kmsg_contains(kmsg,
				      "rust_liveupdate: prepare: handing over generation 42"));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_CANCEL));
	close(kmsg);
}

/*
 * Data handed over through the test hook that is no page KHO holds (root
 * passes any number): GETDATA and FINISH refuse it without a kernel
 * warning, which fails the suite.
 */
TEST_F(subsys, handed_over_data_that_is_no_page)
{
	static const __u64 bogus[] = { 0x100000, 0x100001, 1ULL << 46 };
	static const char *const names[] = { "ksft_a", "ksft_b", "ksft_c" };

	for (unsigned int i = 0; i < ARRAY_SIZE(bogus); i++) {
		ASSERT_EQ(0, luo_enter_updated(self->hook, names[i], bogus[i]));
		ASSERT_EQ(0, luo_register(self->hook, names[i], self->page));
		EXPECT_EQ(-EINVAL, luo_getdata(self->hook, names[i], self->out));
	}
	EXPECT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_FINISH));
	EXPECT_EQ(LIVEUPDATE_STATE_NORMAL, luo_get_state(self->fd));
}

TEST_HARNESS_MAIN
