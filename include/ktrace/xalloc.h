/*
 * Allocation-or-die, hashing and spare-CPU detection: the one copy of each
 * that every layer uses (git's xmalloc idea). An allocation failure prints
 * "ktrace: out of memory" and aborts: a CLI tool has no sensible recovery,
 * and inputs are capped before they are allocated, so this only happens
 * when the machine itself is out of memory.
 */
#ifndef KTRACE_XALLOC_H
#define KTRACE_XALLOC_H

#include <stddef.h>
#include <stdint.h>

void *kt_xmalloc(size_t n);
void *kt_xcalloc(size_t n, size_t size);      /* overflow-checked */
void *kt_xrealloc(void *p, size_t n);
void *kt_xreallocarray(void *p, size_t n, size_t size); /* overflow-checked */
char *kt_xstrdup(const char *s);               /* NULL -> NULL */
/* Print "ktrace: out of memory" and abort. */
void kt_oom(void) __attribute__((noreturn));

/* 64-bit FNV-1a over len bytes, continuing from seed (KT_HASH_SEED to start). */
#define KT_HASH_SEED 0xcbf29ce484222325ULL
uint64_t kt_hash64(uint64_t seed, const void *p, size_t len);
/* The same over a NUL-terminated string (NULL hashes like ""). */
uint64_t kt_hash_str(uint64_t seed, const char *s);

/* CPUs this process may run on (sched affinity) minus the CPUs other work
 * wants right now: the lower of the 1-minute load average (it lags by a
 * minute) and the tasks runnable now other than this one (/proc/loadavg's
 * 4th field). May be negative on a saturated machine; callers pick their
 * own threshold (a second thread pays only with about one idle CPU). */
double kt_spare_cpus(void);
/* CPUs this process may run on (at least 1). */
unsigned kt_usable_cpus(void);

/* Grow the heap by about bytes now and ask the kernel to back that part
 * with transparent huge pages (madvise mode): a command about to build a
 * model of many MiB then pays one page fault per 2 MiB instead of one per
 * 4 KiB, which dominates on virtual machines where a fault costs ~10 us.
 * Also keeps allocations up to 32 MiB in the heap and freed memory in the
 * process. Untouched pages cost no memory. A no-op where unsupported. */
void kt_heap_hugepages(size_t bytes);

#endif
