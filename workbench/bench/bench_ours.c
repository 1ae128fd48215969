// SPDX-License-Identifier: GPL-2.0-only
/*
 * bench_ours - the memfd benchmark (bench_common.h) against LUO-rs:
 * /dev/liveupdate's FD_PRESERVE, PREPARE, FD_RESTORE and FINISH. The
 * metadata handed over is read from the memfd handler's debugfs counters.
 */
#include "bench_common.h"
#include "luo_ioctl.h"

static int ours_open(void)
{
	int fd = luo_open();

	return fd < 0 ? -errno : fd;
}

static int ours_prepare(int dev)
{
	return luo_set_event(dev, LIVEUPDATE_PREPARE);
}

static int ours_finish(int dev)
{
	return luo_set_event(dev, LIVEUPDATE_FINISH);
}

static const struct bench_driver ours = {
	.name = "ours",
	.open_outgoing = ours_open,
	.preserve = luo_fd_preserve,
	.prepare = ours_prepare,
	.metadata_bytes = luo_rs_metadata_bytes,
	.open_incoming = ours_open,
	.restore = luo_fd_restore,
	.finish = ours_finish,
};

int main(int argc, char **argv)
{
	return bench_main(&ours, argc, argv);
}
