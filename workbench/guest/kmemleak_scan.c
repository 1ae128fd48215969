// SPDX-License-Identifier: GPL-2.0-only
/*
 * kmemleak_scan - run last in the debug lane (make check-debug): asks
 * kmemleak for a scan and prints every suspected leak as a
 * "KMEMLEAK <line>" line, which check.py counts as a failure. Two scans,
 * as kmemleak's documentation advises, so that objects freed late are not
 * reported.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define KMEMLEAK "/sys/kernel/debug/kmemleak"

static int scan(void)
{
	int fd = open(KMEMLEAK, O_WRONLY);
	int ok = fd >= 0 && write(fd, "scan", 4) == 4;

	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

int main(void)
{
	char line[512];
	FILE *f;

	if (scan() || (sleep(1), scan())) {
		printf("KMEMLEAK cannot scan: no %s\n", KMEMLEAK);
		return 1;
	}
	f = fopen(KMEMLEAK, "r");
	if (!f)
		return 1;
	while (fgets(line, sizeof(line), f))
		printf("KMEMLEAK %s", line);
	fclose(f);
	return 0;
}
