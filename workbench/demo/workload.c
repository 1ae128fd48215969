// SPDX-License-Identifier: GPL-2.0
/*
 * workload.c - the demo's workload: a program whose whole state lives in a
 * memfd, like the memory of a virtual machine.
 *
 *   workload new SIZE_MIB [--ack-fd N] [--seconds S]
 *   workload resume SOCKET [--ack-fd N] [--seconds S]
 *
 * The memfd holds a 64 KiB header (magic, counter, sizes, one checksum per
 * 1 MiB chunk of data) and SIZE_MIB MiB of data. Each step checks one chunk
 * against its checksum, rewrites it with data derived from the counter,
 * stores its new checksum and increments the counter; a progress line is
 * printed about four times a second. "new" creates and fills the memfd;
 * "resume" listens on the AF_UNIX socket SOCKET, receives the memfd with
 * SCM_RIGHTS (from "luoctl restore TOKEN SOCKET"), checks the header,
 * prints where it resumes, checks every chunk, and carries on counting.
 *
 * SIGUSR1 pauses the workload at the end of a step (a VMM would pause its
 * guests before the blackout): it prints the counter and digest and waits.
 * Status lines for a driver go to --ack-fd: "ready pid=P fd=F counter=C
 * digest=D", "listening", "resumed counter=C digest=D", "verified ok" or
 * "verified bad chunk=K", "paused counter=C digest=D", "done counter=C
 * digest=D". With --seconds S it exits 0 after S seconds of work. Exit
 * status 3 means the data was found corrupt.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../../tools/testing/selftests/liveupdate/orchestration/luo_memfd_utils.h"

#define HDR_SIZE	(64 * 1024)
#define CHUNK		(1024 * 1024)
#define MAGIC		0x64656d6f776b6c31ULL	/* "demowkl1" */
#define MAX_CHUNKS	((HDR_SIZE - sizeof(struct hdr)) / 8)
#define PROGRESS_NS	250000000LL

struct hdr {
	uint64_t magic;
	uint64_t counter;
	uint64_t data_size;
	uint64_t chunk_size;
	uint64_t nchunks;
	uint64_t reserved[3];
	uint64_t sums[];
};

static int ack_fd = -1;
static volatile sig_atomic_t pause_requested;
static struct hdr *hdr;
static uint8_t *data;

static void on_usr1(int sig)
{
	pause_requested = 1;
}

static void ack(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	if (ack_fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	buf[n++] = '\n';
	if (write(ack_fd, buf, n) != n)
		perror("workload: ack");
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint64_t sum_chunk(const uint8_t *p)
{
	return luo_sum(LUO_SUM_INIT, p, CHUNK);
}

static void fill_chunk(uint8_t *p, uint64_t seed)
{
	uint64_t *w = (uint64_t *)p, x = seed * 0x9e3779b97f4a7c15ULL + 1;

	for (size_t i = 0; i < CHUNK / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		w[i] = x;
	}
}

/* A digest of the whole state: the counter and every chunk's checksum. */
static uint64_t digest(void)
{
	return luo_sum(LUO_SUM_INIT ^ hdr->counter, hdr->sums, hdr->nchunks * 8);
}

static void step(void)
{
	uint64_t k = hdr->counter % hdr->nchunks;
	uint8_t *p = data + k * CHUNK;

	if (sum_chunk(p) != hdr->sums[k]) {
		printf("workload[%d]: CORRUPT chunk %llu at counter %llu\n", getpid(),
		       (unsigned long long)k, (unsigned long long)hdr->counter);
		ack("corrupt chunk=%llu", (unsigned long long)k);
		exit(3);
	}
	fill_chunk(p, hdr->counter + 1);
	hdr->sums[k] = sum_chunk(p);
	hdr->counter++;
}

static void progress(const char *what)
{
	printf("workload[%d]: %s counter=%llu digest=%016llx data=%lluMiB\n", getpid(), what,
	       (unsigned long long)hdr->counter, (unsigned long long)digest(),
	       (unsigned long long)(hdr->data_size >> 20));
	fflush(stdout);
}

static int map(int fd, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED) {
		perror("workload: mmap");
		return -1;
	}
	hdr = p;
	data = (uint8_t *)p + HDR_SIZE;
	return 0;
}

static int create(unsigned long mib)
{
	size_t size = HDR_SIZE + mib * CHUNK;
	int fd = memfd_create("demo-workload", MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, size) || map(fd, size)) {
		perror("workload: memfd");
		return -1;
	}
	hdr->magic = MAGIC;
	hdr->data_size = mib * CHUNK;
	hdr->chunk_size = CHUNK;
	hdr->nchunks = mib;
	for (uint64_t i = 0; i < mib; i++) {
		fill_chunk(data + i * CHUNK, i + 1000000007ULL);
		hdr->sums[i] = sum_chunk(data + i * CHUNK);
	}
	return fd;
}

static int receive(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char control[CMSG_SPACE(sizeof(int))], msg[256];
	struct iovec iov = { .iov_base = msg, .iov_len = sizeof(msg) - 1 };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	struct cmsghdr *cm;
	int lfd, conn, fd = -1;
	ssize_t n;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	unlink(path);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) || listen(lfd, 1)) {
		perror("workload: listen");
		return -1;
	}
	printf("workload[%d]: waiting for my memfd on %s\n", getpid(), path);
	fflush(stdout);
	ack("listening");
	conn = accept(lfd, NULL, NULL);
	n = conn < 0 ? -1 : recvmsg(conn, &mh, 0);
	cm = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	if (fd < 0) {
		fprintf(stderr, "workload: no fd received on %s\n", path);
		return -1;
	}
	msg[n] = 0;
	msg[strcspn(msg, "\n")] = 0;
	printf("workload[%d]: received fd %d: \"%s\"\n", getpid(), fd, msg);
	close(conn);
	close(lfd);
	unlink(path);
	return fd;
}

static int resume(const char *path)
{
	struct stat st;
	int fd = receive(path);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) || st.st_size < HDR_SIZE || map(fd, st.st_size))
		return -1;
	if (hdr->magic != MAGIC || hdr->chunk_size != CHUNK || !hdr->nchunks ||
	    hdr->nchunks > MAX_CHUNKS || hdr->data_size != hdr->nchunks * CHUNK ||
	    (uint64_t)st.st_size != HDR_SIZE + hdr->data_size) {
		printf("workload[%d]: the memfd holds no valid workload state\n", getpid());
		ack("verified bad header");
		exit(3);
	}
	return fd;
}

static void verify_all(void)
{
	long long t = now_ns();

	for (uint64_t k = 0; k < hdr->nchunks; k++) {
		if (sum_chunk(data + k * CHUNK) != hdr->sums[k]) {
			printf("workload[%d]: CORRUPT chunk %llu after the update\n", getpid(),
			       (unsigned long long)k);
			ack("verified bad chunk=%llu", (unsigned long long)k);
			exit(3);
		}
	}
	printf("workload[%d]: all %llu MiB verified intact in %lld ms\n", getpid(),
	       (unsigned long long)hdr->nchunks, (now_ns() - t) / 1000000);
	ack("verified ok");
}

int main(int argc, char **argv)
{
	long long start, last, seconds = -1;
	int fd, i;

	if (argc < 3)
		goto usage;
	for (i = 3; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--ack-fd"))
			ack_fd = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--seconds"))
			seconds = atoll(argv[i + 1]);
		else
			goto usage;
	}
	if (i != argc)
		goto usage;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGUSR1, on_usr1);

	if (!strcmp(argv[1], "new")) {
		unsigned long mib = strtoul(argv[2], NULL, 0);

		if (!mib || mib > MAX_CHUNKS)
			goto usage;
		start = now_ns();
		fd = create(mib);
		if (fd < 0)
			return 1;
		printf("workload[%d]: filled %lu MiB in %lld ms, memfd is fd %d\n", getpid(), mib,
		       (now_ns() - start) / 1000000, fd);
		progress("started");
		ack("ready pid=%d fd=%d counter=%llu digest=%016llx", getpid(), fd,
		    (unsigned long long)hdr->counter, (unsigned long long)digest());
	} else if (!strcmp(argv[1], "resume")) {
		fd = resume(argv[2]);
		if (fd < 0)
			return 1;
		progress("resumed");
		ack("resumed counter=%llu digest=%016llx", (unsigned long long)hdr->counter,
		    (unsigned long long)digest());
		verify_all();
	} else {
		goto usage;
	}

	start = last = now_ns();
	for (;;) {
		long long t;

		if (pause_requested) {
			progress("paused");
			ack("paused counter=%llu digest=%016llx",
			    (unsigned long long)hdr->counter, (unsigned long long)digest());
			for (;;)
				pause();
		}
		step();
		t = now_ns();
		if (t - last >= PROGRESS_NS) {
			progress("running");
			last = t;
		}
		if (seconds >= 0 && t - start >= seconds * 1000000000LL) {
			progress("done");
			ack("done counter=%llu digest=%016llx", (unsigned long long)hdr->counter,
			    (unsigned long long)digest());
			return 0;
		}
	}
usage:
	fprintf(stderr, "usage: workload new SIZE_MIB | resume SOCKET [--ack-fd N] [--seconds S]\n");
	return 2;
}
