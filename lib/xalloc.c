/*
 * The shared helpers of include/ktrace/xalloc.h: allocation-or-die, FNV-1a
 * hashing and the spare-CPU estimate used to decide whether a second
 * thread pays. The only lib code that writes to stderr is kt_oom(), right
 * before it aborts.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ktrace/xalloc.h"

void kt_oom(void)
{
	static const char msg[] = "ktrace: out of memory\n";
	ssize_t w = write(2, msg, sizeof(msg) - 1);
	(void)w;
	abort();
}

void *kt_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		kt_oom();
	return p;
}

void *kt_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		kt_oom();
	return p;
}

void *kt_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		kt_oom();
	return q;
}

void *kt_xreallocarray(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		kt_oom();
	return kt_xrealloc(p, n * size);
}

char *kt_xstrdup(const char *s)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		kt_oom();
	return d;
}

uint64_t kt_hash64(uint64_t h, const void *p, size_t len)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

uint64_t kt_hash_str(uint64_t h, const char *s)
{
	for (; s && *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

unsigned kt_usable_cpus(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

double kt_spare_cpus(void)
{
	double cpus = kt_usable_cpus();
	FILE *f = fopen("/proc/loadavg", "r");
	if (!f)
		return 0;
	double load = 0;
	int running = 0, total = 0;
	int n = fscanf(f, "%lf %*f %*f %d/%d", &load, &running, &total);
	fclose(f);
	if (n < 1)
		return 0;
	double busy = load;
	if (n == 3 && running >= 1 && (double)(running - 1) < busy)
		busy = running - 1;
	return cpus - busy;
}
