/*
 * The shared helpers of include/ktrace/xalloc.h: allocation-or-die, FNV-1a
 * hashing, the spare-CPU estimate used to decide whether a second
 * thread pays, and the huge-page heap of commands that build big models.
 * The only lib code that writes to stderr is kt_oom(), right before it
 * aborts.
 */
#include <malloc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

void kt_heap_hugepages(size_t bytes)
{
#if defined(__GLIBC__) && defined(MADV_HUGEPAGE)
	const uintptr_t huge = 2u << 20;
	if (bytes < 2 * huge || bytes > (1u << 30))
		return;
	/* big blocks (arena blocks, growing arrays) from the heap too, never
	 * trimmed back: memory the kernel handed out once is not faulted in
	 * again */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, (int)(2 * bytes));
	mallopt(M_TOP_PAD, (int)bytes);
	uintptr_t start = (uintptr_t)sbrk(0);
	void *volatile grow = malloc(huge); /* extends the heap by bytes */
	free(grow);
	uintptr_t end = (uintptr_t)sbrk(0);
	if (start == (uintptr_t)-1 || end == (uintptr_t)-1)
		return;
	uintptr_t lo = (start + huge - 1) & ~(huge - 1);
	/* a hint on memory that is free (the heap's top) or in use: safe
	 * either way; fails harmlessly when the heap is not at the break */
	if (end > lo)
		(void)madvise((void *)lo, end - lo, MADV_HUGEPAGE);
#else
	(void)bytes;
#endif
}
