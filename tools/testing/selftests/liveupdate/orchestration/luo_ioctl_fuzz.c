// SPDX-License-Identifier: GPL-2.0-only
/*
 * A bounded, seeded ioctl fuzzer for /dev/liveupdate: several threads send
 * random commands, sizes, fields, tokens and fds, interleaved with
 * PREPARE, CANCEL and per-file events. Afterwards the state is consistent,
 * closing the device releases everything, and free memory is back within a
 * small bound. The seed is printed; LUO_FUZZ_SEED=<n> replays a run.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "../../kselftest_harness.h"
#include "luo_test_utils.h"
#include "luo_memfd_utils.h"

#define THREADS		4
#define ROUNDS		5000
#define NR_FILES	6
/* Below the 2 MiB memfd: losing its pages fails the test. */
#define MEMFREE_SLACK_KB	1024

static int luo_fd;
static int files[NR_FILES];

static uint64_t next_random(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

struct fuzzer {
	uint64_t seed;
	long calls;
	long succeeded;
	long unexpected;	/* errors outside the spec's table */
};

static int allowed(int err)
{
	switch (err) {
	case 0: case EINVAL: case E2BIG: case EOPNOTSUPP: case ENOENT: case EEXIST:
	case EBADF: case EBUSY: case ENOTTY: case EFAULT: case EINTR: case EIO:
	case EMFILE:
		return 1;
	}
	return 0;
}

static void *fuzz(void *p)
{
	struct fuzzer *f = p;
	uint8_t buf[128];

	for (int i = 0; i < ROUNDS; i++) {
		uint64_t r = next_random(&f->seed);
		unsigned int nr = r % 9;	/* 0..6 known, 7..8 unknown */
		uint32_t size;
		int ret;

		for (unsigned int b = 0; b < sizeof(buf); b += 8) {
			uint64_t v = next_random(&f->seed);

			memcpy(buf + b, &v, 8);
		}
		switch ((r >> 8) % 5) {
		case 0:
			size = (r >> 16) % 40;
			break;
		case 1:
			size = 8;
			break;
		case 2:
			size = 16;
			break;
		case 3:
			size = 24;
			break;
		default:
			size = (r >> 16) % sizeof(buf);
			break;
		}
		memcpy(buf, &size, 4);
		/* Mostly zero tails and reserved fields, mostly real fds and events. */
		if ((r >> 24) % 4)
			memset(buf + 24, 0, sizeof(buf) - 24);
		if ((r >> 28) % 3) {
			memset(buf + 5, 0, 3);
			memset(buf + 20, 0, 4);
			buf[4] &= 1;
		}
		if ((r >> 32) % 2) {
			int32_t fd = files[(r >> 36) % NR_FILES];

			memcpy(buf + 4, &fd, 4);
		}
		if ((r >> 40) % 2) {
			uint32_t ev = (r >> 44) % 4;

			memcpy(buf + 4, &ev, 4);
		}
		if ((r >> 48) % 2) {
			uint64_t token = (r >> 52) % 8;

			memcpy(buf + 8, &token, 8);
		}
		if (nr == 2 && !((r >> 56) % 4)) {
			/* Restored fds are closed at once. */
			ret = ioctl(luo_fd, _IO(LIVEUPDATE_IOCTL_TYPE, nr), buf);
			if (!ret)
				close(((struct liveupdate_ioctl_fd_restore *)buf)->fd);
		} else {
			ret = ioctl(luo_fd, _IO(LIVEUPDATE_IOCTL_TYPE, nr),
				    (r >> 60) == 0 ? NULL : (void *)buf);
		}
		f->calls++;
		f->succeeded += !ret;
		if (ret && !allowed(errno))
			f->unexpected++;
	}
	return NULL;
}

TEST(fuzz_ioctls)
{
	struct fuzzer fuzzers[THREADS];
	pthread_t threads[THREADS];
	const char *env = getenv("LUO_FUZZ_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) * 2654435761u;
	long before, after, calls = 0, succeeded = 0, unexpected = 0;
	int pipefd[2];
	char buf[64];

	if (!seed)
		seed = 1;
	printf("# seed: %llu (LUO_FUZZ_SEED=%llu replays it)\n",
	       (unsigned long long)seed, (unsigned long long)seed);
	luo_touch_buffers();
	before = luo_free_kib();
	luo_fd = luo_open();
	ASSERT_LE(0, luo_fd);
	ASSERT_EQ(0, pipe(pipefd));
	files[0] = memfd_create("ksft_fuzz_a", 0);
	files[1] = memfd_create("ksft_fuzz_b", 0);
	files[2] = memfd_create("other", 0);
	files[3] = pipefd[0];
	files[4] = -1;
	files[5] = 999;
	ASSERT_LE(0, files[0]);
	ASSERT_LE(0, files[1]);
	memset(buf, 'x', sizeof(buf));
	ASSERT_EQ(sizeof(buf), write(files[0], buf, sizeof(buf)));
	/* Pages that PREPARE holds and preserves, and CANCEL or close must give back. */
	ASSERT_EQ(0, luo_write_stream(files[1], 2 * SZ_1M, seed, 0));

	for (int t = 0; t < THREADS; t++) {
		fuzzers[t] = (struct fuzzer){ .seed = seed + t * 0x9e3779b97f4a7c15ull };
		ASSERT_EQ(0, pthread_create(&threads[t], NULL, fuzz, &fuzzers[t]));
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(threads[t], NULL);
		calls += fuzzers[t].calls;
		succeeded += fuzzers[t].succeeded;
		unexpected += fuzzers[t].unexpected;
	}
	printf("# %ld calls, %ld succeeded, %ld unexpected errors\n", calls, succeeded,
	       unexpected);
	EXPECT_EQ(0, unexpected);
	/* Not only error paths: some requests went through. */
	EXPECT_LT(0, succeeded);

	/* The state is consistent: GET_STATE and sysfs agree. */
	ASSERT_LT(0, luo_read_file(LUO_SYSFS_STATE, buf, sizeof(buf)));
	switch (luo_get_state(luo_fd)) {
	case LIVEUPDATE_STATE_NORMAL:
		EXPECT_STREQ("normal\n", buf);
		break;
	case LIVEUPDATE_STATE_PREPARED:
		EXPECT_STREQ("prepared\n", buf);
		break;
	default:
		ASSERT_TRUE(0);
	}

	/* Closing the device releases everything. */
	close(luo_fd);
	luo_fd = luo_open();
	ASSERT_LE(0, luo_fd);
	EXPECT_EQ(LIVEUPDATE_STATE_NORMAL, luo_get_state(luo_fd));
	for (uint64_t token = 0; token < 8; token++)
		EXPECT_EQ(-ENOENT, luo_fd_state(luo_fd, token, 0));
	close(luo_fd);
	for (int i = 0; i < 3; i++)
		close(files[i]);
	close(pipefd[0]);
	close(pipefd[1]);

	after = luo_free_kib();
	printf("# free memory: %ld kB before, %ld kB after\n", before, after);
	EXPECT_LT(before - after, luo_free_slack_kib(MEMFREE_SLACK_KB));
}

TEST_HARNESS_MAIN
