// SPDX-License-Identifier: GPL-2.0-only
/*
 * bench_ours - the memfd benchmark (bench_common.h) against LUO-rs:
 * /dev/liveupdate's FD_PRESERVE, PREPARE, FD_RESTORE and FINISH. The
 * metadata handed over is read from the memfd handler's debugfs counters.
 */
#include "bench_common.h"
#include <linux/liveupdate.h>

static int ours_open(void)
{
	int fd = open("/dev/liveupdate", O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static int ours_set_event(int dev, __u32 event)
{
	struct liveupdate_ioctl_set_event arg = { .size = sizeof(arg), .event = event };

	return ioctl(dev, LIVEUPDATE_IOCTL_SET_EVENT, &arg) ? -errno : 0;
}

static int ours_preserve(int dev, int file, __u64 token)
{
	struct liveupdate_ioctl_fd_preserve arg = { .size = sizeof(arg), .fd = file,
						    .token = token };

	return ioctl(dev, LIVEUPDATE_IOCTL_FD_PRESERVE, &arg) ? -errno : 0;
}

static int ours_prepare(int dev)
{
	return ours_set_event(dev, LIVEUPDATE_PREPARE);
}

static long ours_metadata_bytes(const struct bench_case *c, long pages)
{
	return luo_proc_value("/sys/kernel/debug/memfd_luo/outgoing", "metadata_bytes", ' ');
}

static int ours_restore(int dev, __u64 token)
{
	struct liveupdate_ioctl_fd_restore arg = { .size = sizeof(arg), .token = token };

	return ioctl(dev, LIVEUPDATE_IOCTL_FD_RESTORE, &arg) ? -errno : arg.fd;
}

static int ours_finish(int dev)
{
	return ours_set_event(dev, LIVEUPDATE_FINISH);
}

static const struct bench_driver ours = {
	.name = "ours",
	.open_outgoing = ours_open,
	.preserve = ours_preserve,
	.prepare = ours_prepare,
	.metadata_bytes = ours_metadata_bytes,
	.open_incoming = ours_open,
	.restore = ours_restore,
	.finish = ours_finish,
};

int main(int argc, char **argv)
{
	return bench_main(&ours, argc, argv);
}
