// SPDX-License-Identifier: GPL-2.0-only
/*
 * File-descriptor preservation in one kernel: tokens, per-file states
 * ahead of the global one, what is refused, and closing the device. Uses
 * the test hook's file handler (memfds named "ksft_*").
 */
#define _GNU_SOURCE
#include <sys/eventfd.h>
#include <sys/mman.h>

#include "../../kselftest_harness.h"
#include "luo_test_utils.h"

FIXTURE(files)
{
	int fd;
	int memfd;
};

FIXTURE_SETUP(files)
{
	self->fd = luo_open();
	ASSERT_LE(0, self->fd);
	self->memfd = memfd_create("ksft_files", 0);
	ASSERT_LE(0, self->memfd);
	ASSERT_EQ(5, write(self->memfd, "hello", 5));
}

FIXTURE_TEARDOWN(files)
{
	if (luo_get_state(self->fd) != LIVEUPDATE_STATE_NORMAL)
		luo_set_event(self->fd, LIVEUPDATE_CANCEL);
	close(self->memfd);
	close(self->fd);
}

TEST_F(files, preserve_unpreserve)
{
	ASSERT_EQ(0, luo_fd_preserve(self->fd, self->memfd, 0x1234));
	EXPECT_EQ(LIVEUPDATE_STATE_NORMAL, luo_fd_state(self->fd, 0x1234, 0));
	EXPECT_EQ(-EEXIST, luo_fd_preserve(self->fd, self->memfd, 0x1234));
	/* The same file under another token. */
	EXPECT_EQ(-EEXIST, luo_fd_preserve(self->fd, self->memfd, 0x9999));
	EXPECT_EQ(0, luo_fd_unpreserve(self->fd, 0x1234));
	EXPECT_EQ(-ENOENT, luo_fd_unpreserve(self->fd, 0x1234));
	EXPECT_EQ(-ENOENT, luo_fd_state(self->fd, 0x1234, 0));
}

TEST_F(files, refused_files)
{
	int pipefd[2], other;

	EXPECT_EQ(-EBADF, luo_fd_preserve(self->fd, -1, 1));
	EXPECT_EQ(-EBADF, luo_fd_preserve(self->fd, 1000, 1));
	ASSERT_EQ(0, pipe(pipefd));
	EXPECT_EQ(-EOPNOTSUPP, luo_fd_preserve(self->fd, pipefd[0], 1));
	close(pipefd[0]);
	close(pipefd[1]);
	/* Not a file any handler takes. */
	other = eventfd(0, 0);
	ASSERT_LE(0, other);
	EXPECT_EQ(-EOPNOTSUPP, luo_fd_preserve(self->fd, other, 1));
	close(other);
}

/* A file can be prepared ahead of the global PREPARE, and cancelled back. */
TEST_F(files, per_file_prepare_ahead)
{
	ASSERT_EQ(0, luo_fd_preserve(self->fd, self->memfd, 7));
	ASSERT_EQ(0, luo_fd_event(self->fd, 7, LIVEUPDATE_PREPARE));
	EXPECT_EQ(LIVEUPDATE_STATE_PREPARED, luo_fd_state(self->fd, 7, 0));
	EXPECT_EQ(LIVEUPDATE_STATE_NORMAL, luo_get_state(self->fd));
	EXPECT_EQ(-EBUSY, luo_fd_event(self->fd, 7, LIVEUPDATE_PREPARE));
	ASSERT_EQ(0, luo_fd_event(self->fd, 7, LIVEUPDATE_FREEZE));
	EXPECT_EQ(LIVEUPDATE_STATE_FROZEN, luo_fd_state(self->fd, 7, 0));
	ASSERT_EQ(0, luo_fd_event(self->fd, 7, LIVEUPDATE_CANCEL));
	EXPECT_EQ(LIVEUPDATE_STATE_NORMAL, luo_fd_state(self->fd, 7, 0));
	EXPECT_EQ(-EBUSY, luo_fd_event(self->fd, 7, LIVEUPDATE_FINISH));
	EXPECT_EQ(-EBUSY, luo_fd_event(self->fd, 7, LIVEUPDATE_CANCEL));
	EXPECT_EQ(0, luo_fd_unpreserve(self->fd, 7));
}

TEST_F(files, global_prepare_and_cancel)
{
	ASSERT_EQ(0, luo_fd_preserve(self->fd, self->memfd, 8));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_PREPARE));
	EXPECT_EQ(LIVEUPDATE_STATE_PREPARED, luo_fd_state(self->fd, 8, 0));
	/* Nothing changes the preserved set while the update is prepared. */
	EXPECT_EQ(-EBUSY, luo_fd_unpreserve(self->fd, 8));
	EXPECT_EQ(-EBUSY, luo_fd_preserve(self->fd, self->memfd, 9));
	EXPECT_EQ(-EBUSY, luo_fd_event(self->fd, 8, LIVEUPDATE_CANCEL));
	EXPECT_EQ(-EBUSY, luo_fd_restore(self->fd, 8));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_CANCEL));
	EXPECT_EQ(LIVEUPDATE_STATE_NORMAL, luo_fd_state(self->fd, 8, 0));
	EXPECT_EQ(-ENOENT, luo_fd_state(self->fd, 8, 1));
	EXPECT_EQ(0, luo_fd_unpreserve(self->fd, 8));
}

/* Closing the device releases every preserved file. */
TEST_F(files, close_releases_files)
{
	ASSERT_EQ(0, luo_fd_preserve(self->fd, self->memfd, 10));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_PREPARE));
	close(self->fd);
	self->fd = luo_open();
	ASSERT_LE(0, self->fd);
	EXPECT_EQ(LIVEUPDATE_STATE_NORMAL, luo_get_state(self->fd));
	EXPECT_EQ(-ENOENT, luo_fd_state(self->fd, 10, 0));
	EXPECT_EQ(0, luo_fd_preserve(self->fd, self->memfd, 10));
}

TEST_HARNESS_MAIN
