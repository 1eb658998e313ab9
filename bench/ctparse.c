/*
 * The conntrack decoder alone: kt_conntrack_parse() over a recorded dump
 * (a file of netlink messages, e.g. the nl-12-*.bin of a KTRACE_NL_RECORD
 * directory), best of 7, no kernel and no I/O in the timing. Built
 * against a build directory's libktrace.a, so two builds compare on the
 * same bytes:
 *   cc -O2 -std=gnu11 -Iinclude -I. -D_GNU_SOURCE -o ctparse bench/ctparse.c \
 *      build/libktrace.a $(pkg-config --libs ...) -lm -lpthread
 *   ./ctparse DUMP LABEL
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "ktrace/flows.h"
int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	FILE *f = fopen(argv[1], "rb");
	if (!f)
		return 1;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	char *b = malloc(n);
	if (fread(b, 1, n, f) != (size_t)n)
		return 1;
	fclose(f);
	double best = 1e9;
	for (int i = 0; i < 7; i++) {
		struct kt_snapshot *s = kt_snapshot_new();
		struct kt_flow_sample *fs = KT_SNAP_PUSH(s, flows);
		fs->node = "x"; fs->taken_ms = 1700000000000LL;
		struct kt_diag d = {0};
		struct timespec t0, t1; clock_gettime(CLOCK_MONOTONIC, &t0);
		kt_conntrack_parse(s, fs, b, n, &d);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
		if (ms < best) best = ms;
		kt_snapshot_free(s);
	}
	printf("%s: best %.1f ms\n", argv[2], best);
	return 0;
}
