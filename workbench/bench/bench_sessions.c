// SPDX-License-Identifier: GPL-2.0-only
/*
 * bench_sessions - the memfd benchmark (bench_common.h) through Linux 7.3's
 * session uAPI: CREATE_SESSION, SESSION_PRESERVE_FD (which serializes at
 * once; there is no PREPARE), then in the next kernel RETRIEVE_SESSION,
 * SESSION_RETRIEVE_FD and SESSION_FINISH. Built twice: against LUO-rs
 * (booted with liveupdate=sessions), and with -DBENCH_UPSTREAM against
 * pristine Linux 7.3's headers, for its C LUO (bench_upstream).
 */
#include "bench_common.h"
#include <linux/liveupdate.h>

#define SESSION "luo-bench"

/*
 * Upstream's memfd hand-over, as in its include/linux/kho/abi/memfd.h: a
 * header per file and a record per folio (in a preserved vmalloc area).
 */
struct upstream_memfd_folio_ser {
	__u64 pfn:52;
	__u64 flags:12;
	__u64 index;
};

struct upstream_kho_vmalloc {
	__u64 first;
	unsigned int total_pages;
	unsigned short flags;
	unsigned short order;
};

struct upstream_memfd_luo_ser {
	__u64 pos;
	__u64 size;
	__u32 seals;
	__u32 flags;
	__u64 nr_folios;
	struct upstream_kho_vmalloc folios;
} __attribute__((packed));

static int luo_dev = -1;

static int upstream_session(unsigned long cmd)
{
	struct liveupdate_ioctl_create_session arg = { .size = sizeof(arg) };

	if (luo_dev < 0)
		luo_dev = open("/dev/liveupdate", O_RDWR | O_CLOEXEC);
	if (luo_dev < 0)
		return -errno;
	strcpy((char *)arg.name, SESSION);
	/* create_session and retrieve_session have the same layout. */
	return ioctl(luo_dev, cmd, &arg) ? -errno : arg.fd;
}

static int upstream_open_outgoing(void)
{
	return upstream_session(LIVEUPDATE_IOCTL_CREATE_SESSION);
}

static int upstream_open_incoming(void)
{
	return upstream_session(LIVEUPDATE_IOCTL_RETRIEVE_SESSION);
}

static int upstream_preserve(int session, int file, __u64 token)
{
	struct liveupdate_session_preserve_fd arg = { .size = sizeof(arg), .fd = file,
						      .token = token };

	return ioctl(session, LIVEUPDATE_SESSION_PRESERVE_FD, &arg) ? -errno : 0;
}

#ifdef BENCH_UPSTREAM
static long sessions_metadata_bytes(const struct bench_case *c, long pages)
{
	/* Holes are filled at preserve: every page of every file is a folio. */
	return (long)c->files * (sizeof(struct upstream_memfd_luo_ser) +
				 (c->size / PAGE) * sizeof(struct upstream_memfd_folio_ser));
}
#define SIDE "upstream"
#else
#define sessions_metadata_bytes luo_rs_metadata_bytes
#define SIDE "sessions"
#endif

static int upstream_restore(int session, __u64 token)
{
	struct liveupdate_session_retrieve_fd arg = { .size = sizeof(arg), .token = token };

	return ioctl(session, LIVEUPDATE_SESSION_RETRIEVE_FD, &arg) ? -errno : arg.fd;
}

static int upstream_finish(int session)
{
	struct liveupdate_session_finish arg = { .size = sizeof(arg) };

	return ioctl(session, LIVEUPDATE_SESSION_FINISH, &arg) ? -errno : 0;
}

static const struct bench_driver sessions = {
	.name = SIDE,
	.open_outgoing = upstream_open_outgoing,
	.preserve = upstream_preserve,
	.prepare = NULL,
	.metadata_bytes = sessions_metadata_bytes,
	.open_incoming = upstream_open_incoming,
	.restore = upstream_restore,
	.finish = upstream_finish,
};

int main(int argc, char **argv)
{
	return bench_main(&sessions, argc, argv);
}
