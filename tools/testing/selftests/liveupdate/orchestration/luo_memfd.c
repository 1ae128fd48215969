// SPDX-License-Identifier: GPL-2.0-only
/*
 * The memfd-v1 file handler in one kernel: which files it takes, the
 * frozen mapping while PREPARED (EPERM for every size change, write past
 * EOF and fallocate; writes inside the file still work), and that CANCEL,
 * FD_UNPRESERVE and closing the device undo it all, the references that
 * hold the pages included.
 */
#define _GNU_SOURCE
#include <linux/falloc.h>
#include <linux/memfd.h>
#include <sys/mount.h>
#include <sys/mman.h>

#include "../../kselftest_harness.h"
#include "luo_test_utils.h"
#include "luo_memfd_utils.h"

#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC	0x0020
#endif

#define TOKEN 0x3e3f
#define SIZE (4 * SZ_1M)

#define TMPFS_DIR "/tmp/luo_tmpfs"

/* A file system of @fstype (tmpfs, hugetlbfs) mounted at TMPFS_DIR. */
static int mount_fs(const char *fstype)
{
	mkdir("/tmp", 0755);
	mkdir(TMPFS_DIR, 0755);
	return mount("none", TMPFS_DIR, fstype, 0, NULL) ? -errno : 0;
}

static int mount_tmpfs(void)
{
	return mount_fs("tmpfs");
}

FIXTURE(memfd)
{
	int fd;
	int memfd;
};

FIXTURE_SETUP(memfd)
{
	self->fd = luo_open();
	ASSERT_LE(0, self->fd);
	self->memfd = luo_memfd_random("luo_memfd", SIZE, 1, MFD_ALLOW_SEALING);
	ASSERT_LE(0, self->memfd);
}

FIXTURE_TEARDOWN(memfd)
{
	if (luo_get_state(self->fd) != LIVEUPDATE_STATE_NORMAL)
		luo_set_event(self->fd, LIVEUPDATE_CANCEL);
	close(self->memfd);
	close(self->fd);
	/* What a test that failed half-way left behind. */
	umount(TMPFS_DIR);
	luo_write_file("/proc/sys/vm/nr_hugepages", "0");
}

/* Every change of the file's size or allocation: 0 or -errno each. */
struct changes {
	int shrink, grow, write_past_eof, falloc, falloc_keep, punch;
};

static struct changes try_changes(int memfd)
{
	struct changes c;
	char byte = 1;

	c.shrink = ftruncate(memfd, SIZE / 2) ? -errno : 0;
	c.grow = ftruncate(memfd, SIZE * 2) ? -errno : 0;
	c.write_past_eof = pwrite(memfd, &byte, 1, SIZE) == 1 ? 0 : -errno;
	c.falloc = fallocate(memfd, 0, 0, SIZE * 2) ? -errno : 0;
	c.falloc_keep = fallocate(memfd, FALLOC_FL_KEEP_SIZE, SIZE, SIZE) ? -errno : 0;
	c.punch = fallocate(memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
			    LUO_PAGE_SIZE) ? -errno : 0;
	/* Back to the original size for the next round. */
	ftruncate(memfd, SIZE);
	return c;
}

#define EXPECT_ALL(expected, c) do {					\
	int want_ = (expected);						\
	struct changes got_ = (c);					\
									\
	EXPECT_EQ(want_, got_.shrink);					\
	EXPECT_EQ(want_, got_.grow);					\
	EXPECT_EQ(want_, got_.write_past_eof);				\
	EXPECT_EQ(want_, got_.falloc);					\
	EXPECT_EQ(want_, got_.falloc_keep);				\
	EXPECT_EQ(want_, got_.punch);					\
} while (0)

static int write_inside(int memfd)
{
	char buf[8] = "inside!", back[8] = "";

	if (pwrite(memfd, buf, sizeof(buf), 4096) != sizeof(buf))
		return -errno;
	if (pread(memfd, back, sizeof(back), 4096) != sizeof(back))
		return -errno;
	return memcmp(buf, back, sizeof(buf)) ? -EIO : 0;
}

TEST_F(memfd, frozen_while_prepared_and_thawed_by_cancel)
{
	ASSERT_EQ(0, luo_fd_preserve(self->fd, self->memfd, TOKEN));
	/* Only recorded: nothing frozen yet. */
	EXPECT_ALL(0, try_changes(self->memfd));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_PREPARE));
	EXPECT_EQ(LIVEUPDATE_STATE_PREPARED, luo_fd_state(self->fd, TOKEN, 0));
	EXPECT_ALL(-EPERM, try_changes(self->memfd));
	EXPECT_EQ(0, write_inside(self->memfd));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_CANCEL));
	EXPECT_EQ(LIVEUPDATE_STATE_NORMAL, luo_fd_state(self->fd, TOKEN, 0));
	EXPECT_ALL(0, try_changes(self->memfd));
}

TEST_F(memfd, per_file_prepare_ahead_of_the_global_one)
{
	ASSERT_EQ(0, luo_fd_preserve(self->fd, self->memfd, TOKEN));
	ASSERT_EQ(0, luo_fd_event(self->fd, TOKEN, LIVEUPDATE_PREPARE));
	EXPECT_EQ(LIVEUPDATE_STATE_NORMAL, luo_get_state(self->fd));
	EXPECT_ALL(-EPERM, try_changes(self->memfd));
	/* The global PREPARE keeps the file as it is. */
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_PREPARE));
	EXPECT_EQ(LIVEUPDATE_STATE_PREPARED, luo_fd_state(self->fd, TOKEN, 0));
	EXPECT_ALL(-EPERM, try_changes(self->memfd));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_CANCEL));
	EXPECT_ALL(0, try_changes(self->memfd));
	/* Per-file PREPARE, then per-file CANCEL. */
	ASSERT_EQ(0, luo_fd_event(self->fd, TOKEN, LIVEUPDATE_PREPARE));
	EXPECT_ALL(-EPERM, try_changes(self->memfd));
	ASSERT_EQ(0, luo_fd_event(self->fd, TOKEN, LIVEUPDATE_CANCEL));
	EXPECT_ALL(0, try_changes(self->memfd));
}

/*
 * Adds each seal alone; returns the first result that is not -EPERM (0 if
 * every seal got -EPERM), so that EXPECT_EQ(0, ...) names the culprit.
 */
static int every_seal_refused(int memfd)
{
	static const int seals[] = { F_SEAL_SEAL, F_SEAL_GROW, F_SEAL_WRITE,
				     F_SEAL_FUTURE_WRITE, F_SEAL_EXEC,
				     F_SEAL_SHRINK | F_SEAL_GROW };

	for (size_t i = 0; i < ARRAY_SIZE(seals); i++) {
		int ret = fcntl(memfd, F_ADD_SEALS, seals[i]) ? -errno : 0;

		if (ret != -EPERM)
			return ret ? ret : seals[i];
	}
	return 0;
}

/*
 * The seals a file is preserved with are the seals it comes back with:
 * while its mapping is frozen (from PREPARE, global or per file, to CANCEL
 * or FD_UNPRESERVE) no seal can be added, each gets EPERM; adding a seal
 * the file has is no change and works.
 */
TEST_F(memfd, seals_are_fixed_while_frozen)
{
	ASSERT_EQ(0, fcntl(self->memfd, F_ADD_SEALS, F_SEAL_SHRINK));
	ASSERT_EQ(0, luo_fd_preserve(self->fd, self->memfd, TOKEN));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_PREPARE));
	EXPECT_EQ(0, every_seal_refused(self->memfd));
	EXPECT_EQ(0, fcntl(self->memfd, F_ADD_SEALS, F_SEAL_SHRINK));
	EXPECT_EQ(F_SEAL_SHRINK, fcntl(self->memfd, F_GET_SEALS));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_CANCEL));

	ASSERT_EQ(0, luo_fd_event(self->fd, TOKEN, LIVEUPDATE_PREPARE));
	EXPECT_EQ(0, every_seal_refused(self->memfd));
	ASSERT_EQ(0, luo_fd_unpreserve(self->fd, TOKEN));

	/* Thawed: sealing works again. */
	EXPECT_EQ(0, fcntl(self->memfd, F_ADD_SEALS, F_SEAL_GROW));
	EXPECT_EQ(F_SEAL_SHRINK | F_SEAL_GROW, fcntl(self->memfd, F_GET_SEALS));
}

TEST_F(memfd, unpreserve_thaws)
{
	ASSERT_EQ(0, luo_fd_preserve(self->fd, self->memfd, TOKEN));
	ASSERT_EQ(0, luo_fd_event(self->fd, TOKEN, LIVEUPDATE_PREPARE));
	EXPECT_ALL(-EPERM, try_changes(self->memfd));
	ASSERT_EQ(0, luo_fd_unpreserve(self->fd, TOKEN));
	EXPECT_ALL(0, try_changes(self->memfd));
}

TEST_F(memfd, accepted_files)
{
	int fd2 = memfd_create("luo_empty", 0);
	int tmp;

	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, mount_tmpfs());
	tmp = open(TMPFS_DIR, O_TMPFILE | O_RDWR, 0600);
	EXPECT_EQ(0, luo_fd_preserve(self->fd, self->memfd, 1));
	EXPECT_EQ(0, luo_fd_preserve(self->fd, fd2, 2));
	if (tmp < 0)
		TH_LOG("O_TMPFILE on tmpfs: %s", strerror(errno));
	EXPECT_EQ(0, tmp < 0 ? 0 : luo_fd_preserve(self->fd, tmp, 3));
	EXPECT_EQ(-EEXIST, luo_fd_preserve(self->fd, fd2, 4));
	EXPECT_EQ(-EEXIST, luo_fd_preserve(self->fd, self->memfd, 2));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_PREPARE));
	EXPECT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_CANCEL));
	close(fd2);
	if (tmp >= 0)
		close(tmp);
	umount(TMPFS_DIR);
}

TEST_F(memfd, same_inode_twice_is_refused_at_prepare)
{
	char path[64];
	int again;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", self->memfd);
	again = open(path, O_RDWR);
	ASSERT_LE(0, again);
	ASSERT_EQ(0, luo_fd_preserve(self->fd, self->memfd, 1));
	/* Another struct file of the same inode: recorded... */
	ASSERT_EQ(0, luo_fd_preserve(self->fd, again, 2));
	/* ...but two hand-overs of one inode cannot both come back. */
	EXPECT_EQ(-EBUSY, luo_set_event(self->fd, LIVEUPDATE_PREPARE));
	EXPECT_EQ(LIVEUPDATE_STATE_NORMAL, luo_get_state(self->fd));
	/* The failed PREPARE thawed the first one again. */
	EXPECT_ALL(0, try_changes(self->memfd));
	close(again);
}

TEST_F(memfd, refused_and_taken_files)
{
	int pipefd[2], tmpfs_file, huge;

	ASSERT_EQ(0, pipe(pipefd));
	EXPECT_EQ(-EOPNOTSUPP, luo_fd_preserve(self->fd, pipefd[0], 1));
	close(pipefd[0]);
	close(pipefd[1]);

	/* A tmpfs file with a name: shmem, but not anonymous. */
	ASSERT_EQ(0, mount_tmpfs());
	tmpfs_file = open(TMPFS_DIR "/linked", O_CREAT | O_RDWR, 0600);
	ASSERT_LE(0, tmpfs_file);
	EXPECT_EQ(-EOPNOTSUPP, luo_fd_preserve(self->fd, tmpfs_file, 2));
	close(tmpfs_file);
	umount(TMPFS_DIR);

	/* A hugetlbfs file with a name: hugetlb, but not anonymous. */
	ASSERT_EQ(0, mount_fs("hugetlbfs"));
	huge = open(TMPFS_DIR "/linked", O_CREAT | O_RDWR, 0600);
	ASSERT_LE(0, huge);
	EXPECT_EQ(-EOPNOTSUPP, luo_fd_preserve(self->fd, huge, 3));
	close(huge);
	umount(TMPFS_DIR);

	/* A hugetlb memfd is taken (hugetlb-memfd-v1), even empty. */
	luo_write_file("/proc/sys/vm/nr_hugepages", "2");
	huge = memfd_create("luo_huge", MFD_HUGETLB);
	ASSERT_LE(0, huge) TH_LOG("memfd_create(MFD_HUGETLB): %s", strerror(errno));
	ASSERT_EQ(0, ftruncate(huge, 2 * SZ_1M));
	EXPECT_EQ(0, luo_fd_preserve(self->fd, huge, 3));
	EXPECT_EQ(0, luo_fd_unpreserve(self->fd, 3));
	close(huge);
	luo_write_file("/proc/sys/vm/nr_hugepages", "0");
}

/*
 * Truncating a frozen hugetlb memfd to its own size changes nothing: it
 * must not drop what fallocate(FALLOC_FL_KEEP_SIZE) put past EOF before
 * PREPARE, or the count of huge pages FREEZE compares with PREPARE's
 * would hide a hole filled in between. (shmem counts every page ever
 * allocated, which truncation does not lower.)
 */
TEST_F(memfd, same_size_truncate_while_frozen_changes_nothing)
{
	long before;
	int huge;

	ASSERT_EQ(0, luo_write_file("/proc/sys/vm/nr_hugepages", "2"));
	huge = memfd_create("luo_huge", MFD_HUGETLB | MFD_HUGE_2MB);
	ASSERT_LE(0, huge) TH_LOG("memfd_create(MFD_HUGETLB): %s", strerror(errno));
	ASSERT_EQ(0, ftruncate(huge, 2 * SZ_1M));
	ASSERT_EQ(0, fallocate(huge, FALLOC_FL_KEEP_SIZE, 2 * SZ_1M, 2 * SZ_1M));
	before = luo_file_pages(huge);
	EXPECT_EQ((long)(2 * SZ_1M / LUO_PAGE_SIZE), before);
	ASSERT_EQ(0, luo_fd_preserve(self->fd, huge, 2));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_PREPARE));
	EXPECT_EQ(0, ftruncate(huge, 2 * SZ_1M));
	EXPECT_EQ(before, luo_file_pages(huge));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_CANCEL));
	close(huge);
}

/*
 * An O_TMPFILE file is preserved while it has no name; one given after
 * PREPARE (linkat()) must not keep CANCEL from thawing it.
 */
static void link_after_prepare(struct __test_metadata *_metadata, int luo,
			       const char *fstype, long size)
{
	char path[64];
	int tmp;

	ASSERT_EQ(0, mount_fs(fstype));
	tmp = open(TMPFS_DIR, O_TMPFILE | O_RDWR, 0600);
	ASSERT_LE(0, tmp) TH_LOG("O_TMPFILE on %s: %s", fstype, strerror(errno));
	ASSERT_EQ(0, ftruncate(tmp, size));
	ASSERT_EQ(0, luo_fd_preserve(luo, tmp, TOKEN));
	ASSERT_EQ(0, luo_set_event(luo, LIVEUPDATE_PREPARE));
	EXPECT_EQ(-EPERM, ftruncate(tmp, 2 * size) ? -errno : 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", tmp);
	ASSERT_EQ(0, linkat(AT_FDCWD, path, AT_FDCWD, TMPFS_DIR "/named",
			    AT_SYMLINK_FOLLOW)) TH_LOG("linkat: %s", strerror(errno));
	EXPECT_EQ(0, luo_set_event(luo, LIVEUPDATE_CANCEL));
	EXPECT_EQ(LIVEUPDATE_STATE_NORMAL, luo_get_state(luo));
	EXPECT_EQ(0, ftruncate(tmp, 2 * size) ? -errno : 0);
	EXPECT_EQ(0, luo_fd_unpreserve(luo, TOKEN));
	close(tmp);
	unlink(TMPFS_DIR "/named");
	umount(TMPFS_DIR);
}

TEST_F(memfd, named_after_prepare_is_thawed_by_cancel)
{
	link_after_prepare(_metadata, self->fd, "tmpfs", SIZE);
	/* Its size takes no huge page. */
	link_after_prepare(_metadata, self->fd, "hugetlbfs", 2 * SZ_1M);
}

#define PIN_SLACK 1024
#define OUTGOING "/sys/kernel/debug/memfd_luo/outgoing"

TEST_F(memfd, closing_the_device_thaws_and_releases)
{
	long pins = luo_pins(), held = luo_proc_value(OUTGOING, "pages", ' ');
	int fd2 = luo_memfd_random("luo_big", 64 * SZ_1M, 2, 0);

	ASSERT_LE(0, fd2);
	ASSERT_LE(0, held);
	ASSERT_EQ(0, luo_fd_preserve(self->fd, self->memfd, 1));
	ASSERT_EQ(0, luo_fd_preserve(self->fd, fd2, 2));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_PREPARE));
	EXPECT_ALL(-EPERM, try_changes(self->memfd));
	/*
	 * Every page of both files is held, by a plain reference per folio:
	 * no pin stays. The vmstat counters lag by the per-CPU batches not
	 * folded in yet, hence the slack.
	 */
	EXPECT_LE(held + (long)(68 * SZ_1M / LUO_PAGE_SIZE),
		  luo_proc_value(OUTGOING, "pages", ' '));
	EXPECT_GE(pins + PIN_SLACK, luo_pins());
	close(self->fd);
	self->fd = luo_open();
	ASSERT_LE(0, self->fd);
	EXPECT_EQ(LIVEUPDATE_STATE_NORMAL, luo_get_state(self->fd));
	EXPECT_ALL(0, try_changes(self->memfd));
	/* The references went with the runs that held them. */
	EXPECT_EQ(held, luo_proc_value(OUTGOING, "pages", ' '));
	close(fd2);
}

TEST_HARNESS_MAIN
